"""The generalization_regularizers study, run quick (seed 0): files written, effects as measured."""
import csv
import json

import pytest

from neuroai import cli


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("generalization_regularizers")
    record, metrics = cli.execute("generalization_regularizers", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "generalization.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    v = m["variants"]
    assert list(v) == list(module.VARIANTS)
    assert len(rows) == sum(r["epochs used"] for r in v.values())
    assert "early_stopping" in (path / "summary.md").read_text()


def test_every_variant_learns_the_task(study):
    _, _, m = study
    assert m["n_train"] == 300
    for name, r in m["variants"].items():
        assert r["test accuracy"] > 0.85, name          # chance is 0.1; measured 0.93..0.97


def test_baseline_overfits(study):
    _, _, m = study
    base = m["variants"]["baseline"]
    assert base["train accuracy"] == 1.0 and base["train loss"] < 1e-2   # memorized
    assert base["gap accuracy"] > 0.02 and base["gap loss"] > 0.1         # measured 0.041 and 0.145


def test_regularizers_reduce_the_gap(study):
    _, _, m = study
    v = m["variants"]
    base = v["baseline"]
    # L2 and label smoothing lower the accuracy gap (also for seeds 1 and 2); L2 lowers the loss gap too
    assert v["l2"]["gap accuracy"] < base["gap accuracy"]             # measured 0.037 vs 0.041
    assert v["l2"]["gap loss"] < base["gap loss"]                     # 0.129 vs 0.145
    assert v["label_smoothing"]["gap accuracy"] < base["gap accuracy"]  # 0.033
    # augmentation and dropout stop the memorization of the training set
    for name in ("augmentation", "dropout"):
        assert v[name]["train accuracy"] < 0.98, name                 # ~0.965
        assert v[name]["gap accuracy"] < base["gap accuracy"], name   # ~0.032
    assert v["augmentation"]["gap loss"] < 0.6 * base["gap loss"]     # 0.065 vs 0.145
    # the penalties shrink the weights
    assert v["l2"]["weight norm"] < 0.85 * base["weight norm"]        # 26.5 vs 35.2
    assert v["l1"]["weight norm"] < base["weight norm"]


def test_early_stopping_stops_early_and_restores_the_best_epoch(study):
    _, _, m = study
    es = m["variants"]["early_stopping"]
    assert es["epochs used"] < m["epochs"]                      # measured 12 of 30
    assert es["best epoch"] < es["epochs used"]                 # best weights (epoch 7) restored
    assert es["train accuracy"] < 1.0
    assert all(r["epochs used"] == m["epochs"] for k, r in m["variants"].items() if k != "early_stopping")
