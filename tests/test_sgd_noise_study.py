"""The sgd_noise study, run quick (seed 0): files written, effects as measured."""
import csv
import json

import pytest

from neuroai import cli


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("sgd_noise")
    record, metrics = cli.execute("sgd_noise", module.run, quick=True, seed=0, out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "sgd_noise.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["temperature"] == pytest.approx(m["temperature"])
    assert list(m["runs"]) == list(module.RUNS)
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} == {"history", "slice"}
    assert sum(r["kind"] == "slice" for r in rows) == 3 * len(m["alphas"])


def test_same_lr_same_steps_and_matched_temperature(study):
    _, _, m = study
    runs = m["runs"]
    assert len({r["steps"] for r in runs.values()}) == 1 and len({r["lr"] for r in runs.values()}) == 1
    assert runs["sgd"]["batch size"] == 16 and runs["gd"]["batch size"] == m["n_train"]
    lr = runs["langevin"]["lr"]
    # per-step noise of equal squared norm: 2 lr T P = lr^2 E|g_B - g|^2
    assert 2 * lr * m["temperature"] * m["n_params"] == pytest.approx(lr ** 2 * m["sgd_noise_sq_norm"])
    assert m["temperature"] > 0


def test_all_methods_fit(study):
    _, _, m = study
    for name, r in m["runs"].items():
        assert r["train accuracy"] > 0.99, name     # measured 1.0, 0.999, 1.0
        assert r["train loss"] < 0.03, name         # measured 0.0155, 0.0187, 0.0152
        assert r["test accuracy"] > 0.94, name      # measured 0.970, 0.956, 0.967


def test_sgd_ends_flatter_than_full_batch(study):
    _, path, m = study
    gd, sgd, lang = m["runs"]["gd"], m["runs"]["sgd"], m["runs"]["langevin"]
    # top eigenvalue: measured 4.84 (gd), 3.24 (sgd), 5.10 (langevin); with 10 epochs, seeds 0-2 agree
    assert sgd["top eigenvalue"] < 0.85 * gd["top eigenvalue"]
    assert sgd["top eigenvalue"] < 0.85 * lang["top eigenvalue"]
    # Hutchinson trace: measured 23.7, 18.6, 23.8 (stderr ~1.5)
    assert sgd["hessian trace"] < gd["hessian trace"] and sgd["hessian trace"] < lang["hessian trace"]
    # isotropic noise of the same size does next to nothing: Langevin ends where GD does (within 10%)
    assert lang["top eigenvalue"] == pytest.approx(gd["top eigenvalue"], rel=0.1)
    assert lang["hessian trace"] == pytest.approx(gd["hessian trace"], rel=0.1)
    for name, r in m["runs"].items():
        assert abs(r["slice argmin alpha"]) <= 0.1, name   # measured exactly 0
    with open(path / "metrics.csv") as f:
        sl = {(r["run"], float(r["x"])): float(r["loss"]) for r in csv.DictReader(f) if r["kind"] == "slice"}
    for a in (-1.0, -0.5, 0.5, 1.0):                       # the SGD slice is the shallowest one
        assert sl[("sgd", a)] < sl[("gd", a)] and sl[("sgd", a)] < sl[("langevin", a)], a
