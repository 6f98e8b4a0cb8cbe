"""The ``neuroai`` command and the simulation-script convention."""
import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from neuroai import cli

TOY = '''\
"""Toy study: writes its arguments.

More text that `neuroai list` does not show.
"""
from neuroai.cli import script_main


def run(record, *, quick, seed):
    record.write_config({"quick": quick}, seed)
    print("toy ran")
    return {"seed": seed}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
'''


OPTIONS = '''\
"""Study with options of its own."""
from neuroai.cli import script_main


def add_arguments(parser):
    parser.add_argument("--width", type=int, default=3)


def run(record, *, quick, seed, width):
    record.write_config({"width": width}, seed)
    return {}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
'''


@pytest.fixture
def toy_dir(tmp_path, monkeypatch):
    """A simulations folder with one toy study and one file without run()."""
    folder = tmp_path / "sims"
    folder.mkdir()
    (folder / "toy.py").write_text(TOY)
    (folder / "broken.py").write_text('"""No run function."""\n')
    (folder / "wide.py").write_text(OPTIONS)
    (folder / "_helper.py").write_text('"""Not a simulation."""\n')
    monkeypatch.setenv("NEUROAI_SIMULATIONS", str(folder))
    return folder


def only_run(out: Path, name: str) -> Path:
    """The one run folder of ``name`` under ``out``."""
    (path,) = (out / name).iterdir()
    return path


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "run", "backends"):
        assert command in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "usage: neuroai" in capsys.readouterr().err


def test_list_shows_repository_simulations_with_descriptions(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if x.startswith("backend_parity ")]
    expected = cli.description(cli.simulations_dir() / "backend_parity.py")
    assert line.endswith(expected) and expected.startswith("Backend parity")


def test_list_uses_the_override_folder_and_first_docstring_line(toy_dir, capsys):
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["broken  No run function.",
                                                    "toy     Toy study: writes its arguments.",
                                                    "wide    Study with options of its own."]


def test_list_of_an_empty_folder_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEUROAI_SIMULATIONS", str(tmp_path))
    assert cli.main(["list"]) == 1
    assert "no simulations found" in capsys.readouterr().err


def test_backends_prints_the_capability_matrix(capsys):
    assert cli.main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| feature | brian2 | torch | nest |"
    assert "| LIF | yes | yes | yes |" in lines and "| HodgkinHuxley | yes | - | - |" in lines


def test_unknown_simulation_exits_2_and_lists_known_ones(capsys):
    assert cli.main(["run", "no_such_study"]) == 2
    err = capsys.readouterr().err
    assert "unknown simulation 'no_such_study'" in err and "backend_parity" in err


@pytest.mark.parametrize("seed", ["-1", "2.5", "4294967296", str(2 ** 70)])
def test_a_seed_outside_what_every_generator_takes_is_a_usage_error(seed, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "backend_parity", "--seed", seed])
    assert exit_info.value.code == 2
    assert f"--seed: must be a whole number from 0 to 4294967295, got {seed!r}" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["0", "-3", "2.5", "many"])
@pytest.mark.parametrize("study, option", [("compare_learning_rules", "--stdp-images"), ("rl_cartpole", "--seeds"),
                                           ("continuous_control", "--workers"), ("gradients_through_time", "--delays"),
                                           ("rnnlm", "--epochs"), ("stn_distorted_digits", "--snn-epochs")])
def test_a_count_below_one_is_a_usage_error(study, option, given, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", study, option, given])
    assert exit_info.value.code == 2
    assert f"{option}: must be a whole number >= 1, got {given!r}" in capsys.readouterr().err


def test_an_out_folder_that_cannot_be_created_is_refused_before_the_run(toy_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli.main(["run", "toy", "--quick", "--out", str(blocker / "runs")]) == 2
    err = capsys.readouterr().err
    assert "parameter '--out' must be a folder that can be created" in err and str(blocker) in err
    assert "Traceback" not in err


def test_run_passes_quick_and_seed_and_writes_under_out(toy_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["run", "toy", "--quick", "--seed", "5", "--out", str(out)]) == 0
    run_dir = only_run(out, "toy")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 5 and config["parameters"] == {"quick": True}
    captured = capsys.readouterr()
    assert "toy ran" in captured.out and f"neuroai: results: {run_dir}" in captured.err


def test_quiet_prints_nothing_and_still_writes_the_results(toy_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["run", "toy", "--quiet", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (only_run(out, "toy") / "config.json").is_file()
    with pytest.raises(SystemExit):
        cli.main(["run", "toy", "--quiet", "--verbose"])
    assert "not allowed with" in capsys.readouterr().err


def test_a_simulation_s_own_options_reach_run(toy_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["run", "wide", "--width", "7", "--out", str(out)]) == 0
    assert json.loads((only_run(out, "wide") / "config.json").read_text())["parameters"] == {"width": 7}
    proc = subprocess.run([sys.executable, str(toy_dir / "wide.py"), "--out", str(tmp_path / "s")],
                          capture_output=True, text=True, check=True)
    assert json.loads((only_run(tmp_path / "s", "wide") / "config.json").read_text())["parameters"] == {"width": 3}
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "toy", "--width", "7"])  # toy has no such option
    assert exit_info.value.code == 2 and "--width" in capsys.readouterr().err


def test_simulation_without_run_function_is_reported(toy_dir):
    with pytest.raises(TypeError, match="defines no run"):
        cli.load("broken")


def test_script_entry_point_runs_the_file_directly(toy_dir, tmp_path):
    out = tmp_path / "script_runs"
    proc = subprocess.run([sys.executable, str(toy_dir / "toy.py"), "--seed", "3", "--out", str(out)],
                          capture_output=True, text=True, check=True)
    assert "toy ran" in proc.stdout
    config = json.loads((only_run(out, "toy") / "config.json").read_text())
    assert config["simulation"] == "toy" and config["seed"] == 3 and config["parameters"] == {"quick": False}


def test_console_script_help():
    exe = Path(sys.executable).with_name("neuroai")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "neuroai.cli"]
    proc = subprocess.run(command + ["--help"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("usage: neuroai")


@pytest.mark.slow
def test_backend_parity_quick_matches_every_spike(tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main(["run", "backend_parity", "--quick", "--out", str(out)]) == 0
    run_dir = only_run(out, "backend_parity")
    assert {"config.json", "metrics.csv", "summary.md", "rasters.png"} <= {p.name for p in run_dir.iterdir()}

    config = json.loads((run_dir / "config.json").read_text())
    assert config["parameters"]["quick"] is True and config["seed"] == 0
    assert {"neuroai", "torch", "brian2"} <= set(config["versions"])

    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["backend"], r["population"]) for r in rows} == {(b, p) for b in ("brian2", "torch")
                                                              for p in ("exc", "inh")}
    for r in rows:
        assert float(r["matched_pct"]) == 100.0
        assert int(r["matched"]) == int(r["spikes"]) > 0
        assert 1.0 < float(r["mean_rate_hz"]) < 100.0  # neither silent nor saturated

    summary = (run_dir / "summary.md").read_text()
    assert summary.startswith("# Backend parity") and "All spikes match" in summary
    assert "All spikes match" in capsys.readouterr().out


def test_every_simulation_s_options_are_keywords_of_its_run():
    import argparse
    import inspect

    for name in cli.discover():
        module = cli.load(name)
        if not callable(getattr(module, "add_arguments", None)):
            continue
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        accepted = inspect.signature(module.run).parameters
        missing = [a.dest for a in parser._actions if a.dest != "help" and a.dest not in accepted]
        assert not missing, f"simulation {name}: options {missing} are not keywords of its run()"


def test_help_is_plain_text_for_every_study(capsys):
    for name, path in cli.discover().items():
        text = cli.plain_text(ast.get_docstring(ast.parse(path.read_text())))
        assert text.strip(), name
        for markup in ("``", ":class:`", ":func:`", ":math:`", "**", ".. math::"):
            assert markup not in text, (name, markup)
    with pytest.raises(SystemExit):
        cli.main(["run", "stdp_window", "--help"])
    out = capsys.readouterr().out
    assert "dt_pair = t_post - t_pre" in out and "``" not in out


BLOCK_GYMNASIUM = '''\
import sys


class NoGymnasium:  # gymnasium is not installed, as far as this process knows
    def find_spec(self, name, path=None, target=None):
        if name == "gymnasium" or name.startswith("gymnasium."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, NoGymnasium())
from neuroai import cli

raise SystemExit(cli.main(sys.argv[1:]))
'''


def test_a_study_whose_extra_is_missing_fails_naming_the_extra(tmp_path):
    script = tmp_path / "no_gym.py"
    script.write_text(BLOCK_GYMNASIUM)
    done = subprocess.run([sys.executable, str(script), "run", "rl_cartpole", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert 'neuroai[rl]' in done.stderr and "cannot run" in done.stderr
