"""The neural-coding and BCI-decoding simulations, run quick: files written, behaviour as claimed."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from neuroai import cli


def run_quick(name: str, out: Path, seed: int = 0):
    module = cli.load(name)
    record, metrics = cli.execute(name, module.run, quick=True, seed=seed, out=out)
    return record.path, metrics


def assert_record(path: Path, figure: str, seed: int) -> list[dict]:
    for f in ("config.json", "metrics.csv", "summary.md", f"{figure}.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == seed and config["parameters"]["quick"] is True
    with open(path / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def coding_run(tmp_path_factory):
    return run_quick("neural_coding", tmp_path_factory.mktemp("runs"))


def test_neural_coding_accuracy_grows_with_the_window_and_ends_above_chance(coding_run, capsys):
    path, m = coding_run
    rows = assert_record(path, "accuracy", 0)
    assert len(rows) == 3 * len(m["windows_ms"])
    chance = m["chance"]
    for code in ("rate", "latency", "population"):
        acc = np.array(m["accuracy"][code])
        assert acc[-1] > chance + 0.6, code
        assert max(acc[-3:]) > acc[0] + 0.2, code
        assert np.all(np.diff(m["spikes"][code]) >= 0), code
    # rate and population codes accumulate evidence: accuracy climbs with the window
    for code in ("rate", "population"):
        acc = np.array(m["accuracy"][code])
        assert acc[0] < acc[2] < acc[-1] + 0.02, code
    # the latency code spends at most one spike per neuron and reaches the target with the fewest spikes
    assert max(m["spikes"]["latency"]) <= 40
    assert m["reach_spikes"]["latency"] < m["reach_spikes"]["population"] < m["reach_spikes"]["rate"]


def test_neural_coding_is_seeded(coding_run, tmp_path):
    _, again = run_quick("neural_coding", tmp_path)
    assert again["accuracy"] == coding_run[1]["accuracy"] and again["spikes"] == coding_run[1]["spikes"]


def test_bci_decoding_error_shrinks_with_more_neurons(tmp_path, capsys):
    path, m = run_quick("bci_decoding", tmp_path)
    rows = assert_record(path, "decoding", 0)
    assert {r["decoder"] for r in rows} == {"population vector", "linear", "MLP"}
    out = capsys.readouterr().out
    assert "| neurons | population vector error (deg) | linear error (deg) | MLP error (deg) |" in out
    sizes, err = m["sizes"], m["error_deg"]
    assert sizes[0] <= 8 and sizes[-1] >= 64
    pv = np.array(err["population vector"])
    assert pv[-1] < 0.4 * pv[0]
    assert np.sum(np.diff(pv) < 0) >= len(pv) - 2  # at most one step of the curve goes up
    for name, e in err.items():
        assert e[-1] < 15.0 and e[0] < 90.0, name   # well below chance (90 degrees)
        assert e[-1] < e[0], name
