"""`edgeparity matrix` and `edgeparity image`: the matrix.toml schema, configuration errors, the
fallback when no Docker engine answers, and the local backend's in-environment tests."""

import argparse
import os
from pathlib import Path

import pytest

from edgeparity import cli, errors
from edgeparity.matrix import config as matrix_config

ROOT = Path(__file__).resolve().parents[2]
DOCKER_ENTRY = '[docker.only]\ndockerfile = "Dockerfile"\nplatform = "linux/amd64"\n'


def write(tmp_path, text, name="matrix.toml"):
    path = tmp_path / name
    path.write_text(text)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return path


def test_auto_backend_falls_back_to_local_and_says_so(tmp_path, monkeypatch, capsys):
    config = write(tmp_path, DOCKER_ENTRY)
    # An engine address where nothing listens: the real `docker` CLI gets no answer.
    monkeypatch.setenv("DOCKER_HOST", "unix://" + str(tmp_path / "no-engine.sock"))
    code = cli.main(["matrix", "--config", str(config)])
    err = capsys.readouterr().err
    assert "falling back to the local backend" in err
    # This file declares no [local.*] environment, so the fallback has nothing to run.
    assert code == errors.EXIT_ERROR and "has no [local.*] environments" in err


def test_unknown_section_and_unknown_only_name_are_errors(tmp_path, capsys):
    config = write(tmp_path, '[locals.x]\ntox_env = "x"\n')
    assert cli.main(["matrix", "--backend", "local", "--config", str(config)]) == errors.EXIT_ERROR
    config.write_text('[local.x]\ntox_env = "x"\n')
    assert cli.main(["matrix", "--backend", "local", "--config", str(config),
                     "--only", "y"]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "unknown sections locals" in err and "unknown local environments: y" in err


def test_missing_matrix_file_is_explained(tmp_path, capsys):
    assert cli.main(["matrix", "--config", str(tmp_path / "absent.toml")]) == errors.EXIT_ERROR
    assert "no matrix file" in capsys.readouterr().err


# -- the schema: every table validated, one set of defaults ---------------------------------------


@pytest.mark.parametrize("table, text, message", [
    ("matrix", '[matrix]\nimage = "x"\n', r"\[matrix\]: unknown key image; known: images, "),
    ("local", '[local.a]\ntox-env = "a"\n', r"\[local.a\]: unknown key tox-env; known: "),
    ("docker", DOCKER_ENTRY + 'expect-libjpeg = "x"\n',
     r"\[docker.only\]: unknown key expect-libjpeg; known: "),
    ("types", '[local.a]\nexpect_libjpeg = 9\n', r"\[local.a\]: 'expect_libjpeg' must be a string"),
    ("bool", '[local.a]\ndefault = "no"\n', r"\[local.a\]: 'default' must be true or false"),
    ("required", '[docker.b]\nplatform = "linux/amd64"\n',
     r"\[docker.b\]: 'dockerfile' is required"),
    ("stage", '[local.a]\npipeline = { decoder = "pillow" }\n', r"\[local.a\]: pipeline must map "),
    ("impl", '[local.a]\npipeline = { decode = "pilow" }\n',
     r"\[local.a\]: bad pipeline .*no decode implementation 'pilow'"),
    ("reference", '[matrix]\nreference = "nobody"\n[local.a]\n', r"reference 'nobody' names no"),
    ("build_args", DOCKER_ENTRY + "build_args = { N = 1 }\n", r"build_args values must be strings"),
])
def test_every_table_is_validated_and_errors_name_the_key_and_table(tmp_path, table, text,
                                                                     message):
    with pytest.raises(matrix_config.ConfigError, match=message):
        matrix_config.load(write(tmp_path, text))


def test_defaults_come_from_one_place(tmp_path):
    from edgeparity import defaults
    from edgeparity.stages.pipeline import DEFAULT_PIPELINE

    config = matrix_config.load(write(tmp_path, '[local.a]\n' + DOCKER_ENTRY))
    assert config.images == (tmp_path / defaults.IMAGES_DIR).resolve()
    assert config.out == (tmp_path / defaults.MATRIX_OUT).resolve()
    local, docker = config.local["a"], config.docker["only"]
    assert local.tox_env == "a" and local.expect_libjpeg == "" and local.default is True
    assert local.pipeline == DEFAULT_PIPELINE == docker.pipeline
    assert docker.build_args == {} and docker.runtime is None


def test_the_model_and_pipeline_only_reach_the_capture_command(tmp_path):
    from edgeparity.matrix.backend import capture_command

    (tmp_path / "models" / "m").mkdir(parents=True)
    config = matrix_config.load(write(tmp_path, '[matrix]\nmodel = "models/m"\n[local.a]\n'
                                      'pipeline_only = true\n[local.b]\n'))
    assert config.model == (tmp_path / "models" / "m").resolve()
    assert config.model is not None and config.local["b"].pipeline_only is False
    command = capture_command("python", config.local["a"], "imgs", "out", str(config.model))
    assert command[-3:] == ["--model", str(config.model), "--pipeline-only"]
    assert "--pipeline-only" not in capture_command("python", config.local["b"], "imgs", "out")
    with pytest.raises(matrix_config.ConfigError, match="pipeline_only"):
        matrix_config.load(write(tmp_path, '[local.a]\npipeline_only = "yes"\n'))


def test_matrix_and_image_run_take_the_model_from_the_matrix_file(tmp_path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "other.onnx").write_bytes(b"")
    config = matrix_config.load(write(tmp_path, '[matrix]\nmodel = "models/m"\n[local.a]\n'))
    assert matrix_config.chosen_model(config, None) == (tmp_path / "models" / "m").resolve()
    given = str(tmp_path / "other.onnx")
    assert matrix_config.chosen_model(config, given) == Path(given).resolve()
    with pytest.raises(matrix_config.ConfigError, match=r"--model .*no such file or folder"):
        matrix_config.chosen_model(config, str(tmp_path / "missing.onnx"))
    (tmp_path / "models" / "m" / "edgeparity-model.json").write_text('{"schema": 1}')
    with pytest.raises(matrix_config.ConfigError, match="'name' must be a non-empty string"):
        matrix_config.chosen_model(config, None)  # checked before any build
    gone = matrix_config.load(write(tmp_path, '[matrix]\nmodel = "models/gone"\n[local.a]\n'))
    with pytest.raises(matrix_config.ConfigError, match=r"'model' in .*matrix\.toml"):
        matrix_config.chosen_model(gone, None)


def test_default_false_environments_run_only_when_named(tmp_path):
    config = matrix_config.load(ROOT / "matrix.toml")
    assert "jetson-l4t" not in [e.name for e in config.select("docker")]
    (l4t,) = config.select("docker", ["jetson-l4t"])
    assert l4t.runtime == "nvidia" and l4t.default is False
    assert [e.name for e in config.select("local")] == list(config.local)


def test_image_commands_refuse_unknown_names(tmp_path, capsys):
    config = write(tmp_path, DOCKER_ENTRY)
    assert cli.main(["image", "run", "nope", "--config", str(config)]) == errors.EXIT_ERROR
    assert "unknown docker environments: nope (known: only)" in capsys.readouterr().err


# -- the local backend runs tests/inenv (and so asserts expect_libjpeg) before capturing -----------


def test_local_backend_fails_naming_both_libraries_when_expect_libjpeg_is_wrong(tmp_path, capsys):
    """The `reference` tox env's Pillow loads libjpeg-turbo 3; pin IJG libjpeg 9d instead.

    Runs the real tox env (about a minute): tests/inenv fail, the capture still runs, and the
    error names the library loaded and the one pinned."""
    tox_python = ROOT / ".tox" / "reference" / "bin" / "python"
    if not tox_python.exists():
        pytest.skip("tox env 'reference' does not exist yet ({}): run `make test`".format(
            tox_python))
    from edgeparity.matrix.local import tox_command

    try:
        tox_command()
    except errors.UserError as exc:
        pytest.skip(str(exc))
    config = write(tmp_path, '[matrix]\nimages = "{}"\n\n[local.reference]\n'
                   'expect_libjpeg = "IJG libjpeg 9d"\n'.format(ROOT / "sample-images"))
    out = tmp_path / "out"
    code = cli.main(["matrix", "--backend", "local", "--config", str(config),
                     "--only", "reference", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == errors.EXIT_ERROR, err
    assert "reference: the in-environment tests failed (exit 1)" in err
    assert "Pillow decodes JPEG with libjpeg-turbo 3." in err  # what is loaded
    assert "pins IJG libjpeg 9d" in err  # what matrix.toml says
    assert (out / "logs" / "reference.exitcode").read_text().strip() == "1"
    assert (out / "bundles" / "reference" / "manifest.json").is_file(), "capture runs anyway"
    assert os.path.getsize(str(out / "logs" / "reference.capture.log")) > 0


def test_an_unwritable_report_path_is_refused_before_anything_runs(tmp_path, capsys):
    config = write(tmp_path, '[matrix]\nimages = "{}"\n\n[local.reference]\n'.format(
        ROOT / "sample-images"))
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "out"
    code = cli.main(["matrix", "--backend", "local", "--config", str(config), "--out", str(out),
                     "--md", str(tmp_path / "file.txt" / "report.md")])
    err = capsys.readouterr().err
    assert code == errors.EXIT_ERROR
    assert "file.txt is a file, not a folder" in err
    assert not out.exists()  # no environment ran


def test_each_command_builds_its_own_parser_and_help_lists_them_all(capsys):
    """cli.COMMAND_MODULES names every command with the module that registers it: a command
    line naming one builds that module's parsers only; without one, all are listed."""
    def commands(parser):
        return set(next(action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction)).choices)

    every = commands(cli.build_parser())
    assert every == set(cli.COMMAND_MODULES)
    for command, module in cli.COMMAND_MODULES.items():
        own = commands(cli.build_parser(command))
        assert command in own and own == {c for c, m in cli.COMMAND_MODULES.items() if m == module}
    with pytest.raises(SystemExit):
        cli.main(["comprae"])
    err = capsys.readouterr().err
    assert "invalid choice: 'comprae'" in err and all(command in err for command in every)
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert all(command in out for command in every)


def test_a_bad_compare_option_is_refused_before_anything_runs(tmp_path, capsys):
    config = write(tmp_path, '[matrix]\nimages = "{}"\n\n[local.reference]\n'.format(
        ROOT / "sample-images"))
    out = tmp_path / "out"
    code = cli.main(["matrix", "--backend", "local", "--config", str(config), "--out", str(out),
                     "--jobs", "0"])
    assert code == errors.EXIT_ERROR
    assert "--jobs >= 1" in capsys.readouterr().err
    assert not out.exists()


def test_a_command_without_its_action_shows_its_own_help_with_the_actions(capsys):
    assert cli.main(["golden"]) == errors.EXIT_ERROR
    captured = capsys.readouterr()
    out = captured.out
    assert out.startswith("usage: edgeparity golden") and "update" in out and "check" in out
    assert "edgeparity: error: `edgeparity golden` needs an action: update, check" in \
        captured.err
