"""`edgeparity matrix`: configuration errors and the fallback when no Docker engine answers."""

from edgeparity import cli, errors


def test_auto_backend_falls_back_to_local_and_says_so(tmp_path, monkeypatch, capsys):
    config = tmp_path / "matrix.toml"
    config.write_text('[docker.only]\ndockerfile = "Dockerfile"\nplatform = "linux/amd64"\n')
    # An engine address where nothing listens: the real `docker` CLI gets no answer.
    monkeypatch.setenv("DOCKER_HOST", "unix://" + str(tmp_path / "no-engine.sock"))
    code = cli.main(["matrix", "--config", str(config)])
    err = capsys.readouterr().err
    assert "falling back to the local backend" in err
    # This file declares no [local.*] environment, so the fallback has nothing to run.
    assert code == errors.EXIT_ERROR and "has no [local.*] environments" in err


def test_unknown_section_and_unknown_only_name_are_errors(tmp_path, capsys):
    config = tmp_path / "matrix.toml"
    config.write_text('[locals.x]\ntox_env = "x"\n')
    assert cli.main(["matrix", "--backend", "local", "--config", str(config)]) == errors.EXIT_ERROR
    config.write_text('[local.x]\ntox_env = "x"\n')
    assert cli.main(["matrix", "--backend", "local", "--config", str(config),
                     "--only", "y"]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "unknown sections locals" in err and "unknown local environments: y" in err


def test_missing_matrix_file_is_explained(tmp_path, capsys):
    assert cli.main(["matrix", "--config", str(tmp_path / "absent.toml")]) == errors.EXIT_ERROR
    assert "no matrix file" in capsys.readouterr().err
