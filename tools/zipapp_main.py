# The __main__.py of dist/edgeparity.pyz (tools/build_zipapp.py copies it in):
#   python3 edgeparity.pyz probe | capture ... | --help
#
# It runs before anything else of edgeparity, so it must parse on any Python a device may
# have (2.7, 3.5): no f-strings, no annotations. An older interpreter gets one sentence and
# exit 2 (edgeparity's "environment error") instead of a SyntaxError from deep inside.
import sys

if sys.version_info < (3, 6):
    sys.stderr.write(
        "edgeparity: error: edgeparity needs CPython >= 3.6; this is %d.%d (%s). On JetPack 4 "
        "run it with python3 (3.6.9): python3 %s ...\n"
        % (sys.version_info[0], sys.version_info[1], sys.executable, sys.argv[0]))
    sys.exit(2)

# capture --jobs spawns workers, which run this file again as __mp_main__: only the parent
# may start the command line.
if __name__ == "__main__":
    from edgeparity.cli import run

    run()
