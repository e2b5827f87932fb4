"""Evidence that loading and running the DLR runner opens no network connection.

DLR phones home (HTTPS POST to AWS) at ``import dlr`` and at every model load unless its opt-out
file says otherwise; edgeparity writes that file before importing dlr. Here a child process
loads the DLR runner on the demo model and runs it once, and two independent witnesses watch:

- ``strace -f -e trace=connect,...``: every connect/send with an IPv4/IPv6 address, from any
  thread or native library;
- a ``sys.addaudithook`` hook (CPython 3.8+) recording ``socket.*`` events from Python code.

Each run uses a fresh copy of the installed dlr package without ``ccm_config.json``, so the
switch must be written by edgeparity in that run. A control run with the switch removed must
show connection attempts, which proves the witnesses would see a leak. The child runs in a new
network namespace (``unshare -n``, no interfaces up) whenever possible, so even the control
run's attempts end at the local kernel: no packet leaves this machine. The control runs only
there.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import edgeparity

CHILD = textwrap.dedent('''
    import json, sys
    # Events that reach out: name lookups, connects and datagram sends. (socket.bind is left
    # out: urllib3 binds ::1 at import to test IPv6 support, which is local.)
    WATCHED = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
               "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto",
               "socket.sendmsg")
    events = []
    if hasattr(sys, "addaudithook"):
        def audit(event, args):
            if event in WATCHED:
                events.append([event, repr(args)[:200]])
        sys.addaudithook(audit)
    import numpy as np
    from edgeparity.stages import infer_dlr
    if "--without-switch" in sys.argv:
        infer_dlr.disable_dlr_phone_home = lambda: {"phone_home": "left on (control run)"}
    impl = infer_dlr.Impl()
    try:
        impl.load({"model": None, "device": "cpu"})
    except infer_dlr.Unavailable as exc:  # e.g. no libdlr.so for this architecture
        print("EDGEPARITY-UNAVAILABLE " + str(exc))
        sys.exit(0)
    out = impl.run(np.ones((1, 3, 224, 224), dtype=np.float32))
    impl.provenance()
    import dlr
    print("EDGEPARITY-CHILD " + json.dumps(
        {"events": events, "shape": list(out.shape), "dlr": dlr.__file__}))
''')


def dlr_package_dir():
    spec = importlib.util.find_spec("dlr")  # finds without importing (no phone-home here)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("DLR is not installed here")
    return next(iter(spec.submodule_search_locations))


def can_unshare_network():
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        return subprocess.run([unshare, "-n", "true"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def run_child(tmp_path, without_switch=False):
    """Run CHILD against a pristine dlr copy; return (child report, inet syscalls, switch)."""
    package = dlr_package_dir()
    shadow = tmp_path / "shadow"
    shutil.copytree(package, str(shadow / "dlr"),
                    ignore=shutil.ignore_patterns("ccm_config.json", "__pycache__"))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    trace = tmp_path / "strace.txt"
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.abspath(edgeparity.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([str(shadow), src])
    env["EDGEPARITY_CACHE_DIR"] = str(tmp_path / "cache")

    command = [sys.executable, str(script)] + (["--without-switch"] if without_switch else [])
    strace = shutil.which("strace")
    if strace:
        command = [strace, "-f", "-qq", "-o", str(trace),
                   "-e", "trace=connect,sendto,sendmsg,sendmmsg"] + command
    if can_unshare_network():
        command = [shutil.which("unshare"), "-n"] + command
    elif without_switch:
        pytest.skip("the control run needs a private network namespace (unshare -n), so that "
                    "DLR's phone-home attempt cannot reach any network")
    if not strace and not hasattr(sys, "addaudithook"):
        pytest.skip("no witness available: install strace, or use CPython >= 3.8")

    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            timeout=300)
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    for line in stdout.splitlines():
        if line.startswith("EDGEPARITY-UNAVAILABLE "):
            pytest.skip("the DLR runner cannot run here: " + line.split(" ", 1)[1])
    lines = [line for line in stdout.splitlines() if line.startswith("EDGEPARITY-CHILD ")]
    assert result.returncode == 0 and lines, stdout[-2000:] + stderr[-3000:]
    report = json.loads(lines[-1][len("EDGEPARITY-CHILD "):])
    assert report["dlr"].startswith(str(shadow)), "the child did not use the pristine dlr copy"
    syscalls = []
    if strace:
        syscalls = [line for line in trace.read_text().splitlines()
                    if "AF_INET" in line]  # AF_INET and AF_INET6; local AF_UNIX is not network
    config = shadow / "dlr" / "counter" / "ccm_config.json"
    switch = json.loads(config.read_text()) if config.exists() else None
    return report, syscalls, switch


def test_dlr_runner_makes_no_network_connection(tmp_path):
    report, syscalls, switch = run_child(tmp_path)
    assert report["shape"] == [1, 1000]
    assert syscalls == [], "DLR runner touched the network:\n" + "\n".join(syscalls)
    assert report["events"] == [], "socket activity from Python: {}".format(report["events"])
    assert switch is not None and switch.get("enable_phone_home") is False


def test_control_without_the_switch_is_seen_trying_to_connect(tmp_path):
    """Proves the witnesses work: the same run with the switch removed tries to phone home."""
    report, syscalls, switch = run_child(tmp_path, without_switch=True)
    assert report["shape"] == [1, 1000]
    assert switch is None or switch.get("enable_phone_home") is not False
    assert syscalls or report["events"], "phone-home left on, yet no connection attempt seen"
    print("control run, seen by strace:", *syscalls, sep="\n  ")
    print("control run, seen by the audit hook:", *report["events"], sep="\n  ")
