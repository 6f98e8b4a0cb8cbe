"""The batch_size_sharpness study, run quick (seed 0): files written, effects as measured."""
import csv
import json

import pytest

from neuroai import cli


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("batch_size_sharpness")
    record, metrics = cli.execute("batch_size_sharpness", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "batch_size_sharpness.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(m["runs"]) == list(module.RUNS)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"history", "slice", "interpolation_train", "interpolation_test"}
    assert sum(r["kind"] == "history" for r in rows) == sum(r["epochs"] for r in m["runs"].values())
    assert sum(r["kind"] == "slice" for r in rows) == 2 * len(m["alphas"])


def test_both_runs_fit_the_training_set(study):
    _, _, m = study
    for name, r in m["runs"].items():
        assert r["train accuracy"] > 0.97, name        # measured 1.0 for both
        assert r["train loss"] < 0.01, name            # the stopping target: both minima fit equally well
        assert r["test accuracy"] > 0.9, name          # measured 0.967 and 0.969
    small, large = m["runs"]["small_batch"], m["runs"]["large_batch"]
    assert small["batch size"] == 16 and large["batch size"] == m["n_train"]
    assert large["steps"] < small["steps"]             # 138 full-batch steps vs 1580


def test_large_batch_minimum_is_sharper(study):
    _, _, m = study
    small, large = m["runs"]["small_batch"], m["runs"]["large_batch"]
    # top Hessian eigenvalue: measured 2.45 vs 5.25 (seeds 1, 2: 2.47 vs 5.40, 2.71 vs 4.74)
    assert large["top eigenvalue"] > 1.5 * small["top eigenvalue"]
    # and it generalizes worse in cross-entropy: measured 0.142 vs 0.118
    assert large["test loss"] > small["test loss"]
    # (Keskar sharpness is reported but not asserted: 1.61 vs 1.68 at this seed, not a robust ordering)


def test_loss_slices_have_their_minimum_at_alpha_zero(study):
    _, path, m = study
    for name, r in m["runs"].items():
        assert abs(r["slice argmin alpha"]) <= 0.1, name   # measured exactly 0 for both
    with open(path / "metrics.csv") as f:
        sl = {(r["run"], float(r["x"])): float(r["loss"]) for r in csv.DictReader(f) if r["kind"] == "slice"}
    for a in (-0.5, 0.5):                                  # the large-batch slice is the steeper one
        assert sl[("large_batch", a)] > sl[("small_batch", a)]
