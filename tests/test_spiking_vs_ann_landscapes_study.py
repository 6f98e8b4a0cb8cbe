"""The spiking_vs_ann_landscapes study, run quick (seed 0): files written, the table, finite and consistent
numbers, effects as measured, and the same numbers again for the same seed."""
import csv
import json
import math

import pytest

from neuroai import cli
from neuroai.data import digits_train_test
from neuroai.experiments import markdown_table

NAME = "spiking_vs_ann_landscapes"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load(NAME)
    record, metrics = cli.execute(NAME, module.run, quick=True, seed=0, out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def cells(module, m):
    """The (model, optimizer) pairs of the run, in the table's order."""
    return [(kind, name) for kind in module.MODELS for name in m["optimizers"]]


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", f"{NAME}.png", f"{NAME}_2d.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["seeds_run"] == m["seeds"] == [0]
    assert config["parameters"]["optimizers_run"] == m["optimizers"] == ["momentum", "sam"]
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} == {"run", "history", "slice", "density"}
    n = len(cells(module, m))
    assert sum(r["kind"] == "run" for r in rows) == n * len(m["seeds"])
    assert sum(r["kind"] == "slice" for r in rows) == n * len(m["alphas"])
    epochs = sum(r["epochs"] for kind in module.MODELS for runs in m["runs"][kind].values() for r in runs)
    assert sum(r["kind"] == "history" for r in rows) == epochs


def test_table_rows_and_columns(study):
    module, path, m = study
    table = m["table"]
    assert [(r["model"], r["optimizer"]) for r in table] == [(module.LABELS[k], o) for k, o in cells(module, m)]
    sigmas = module.Params().sigmas
    assert list(table[0]) == ["model", "optimizer", "lr", *module.MEASURES,
                              *(f"noise accuracy {s:g}" for s in sigmas)]
    summary = (path / "summary.md").read_text()
    assert markdown_table(table) in summary
    # the summary says which measures are of the surrogate-smoothed loss and which of the forward loss
    assert "surrogate-smoothed loss" in summary and "Forward-loss measures" in summary
    assert summary.count("SAM's minima were flatter by") == 2


def test_numbers_are_finite_and_fit(study):
    module, _, m = study
    p = module.Params()
    chance = 0.1
    for kind, name in cells(module, m):
        (r,) = m["runs"][kind][name]
        assert all(math.isfinite(v) for v in r.values()), (kind, name)
        assert r["params"] == 64 * 32 + 32 * 10                     # the same weights in both kinds, no biases
        assert r["epochs"] < p.quick_max_epochs and r["train loss"] < p.quick_target_loss   # stopped by the rule
        # test accuracy far above chance: measured 0.931-0.943
        assert r["test accuracy"] > chance + 0.75, (kind, name)
        # weight noise of 20% of each layer's norm costs a few points: measured 0.903-0.920
        assert chance + 0.7 < r["noise accuracy 0.2"] <= r["test accuracy"] + 0.02, (kind, name)
        # sharpness and slices: measured Keskar 0.84-1.9 %, slice rise 0.22-0.28 nats
        assert r["keskar sharpness"] > 0 and r["slice rise"] > 0.05, (kind, name)


def test_curvature_is_consistent(study):
    module, _, m = study
    p = module.Params()
    for kind, name in cells(module, m):
        (r,) = m["runs"][kind][name]
        top, trace, n = r["top eigenvalue"], r["trace"], r["params"]
        assert top > 0 and trace > 0, (kind, name)                  # measured top 1.8-4.0, trace 13-23
        assert top >= trace / n                                     # the largest eigenvalue is above the mean one
        assert r["top / trace"] == pytest.approx(top / trace, rel=1e-12)
        assert r["top |theta|^2 / 2"] == pytest.approx(0.5 * top * r["|theta|"] ** 2, rel=1e-12)
        # the quadrature's Ritz values lie in the spectrum, and its largest is the top eigenvalue Lanczos found
        # (measured to 1e-6); the SNN's surrogate Hessian has negative eigenvalues (measured down to -0.66)
        low, high = m["density support"][kind][name]
        assert low < 0.05 * top and high == pytest.approx(top, rel=1e-3), (kind, name)
        # the density's mean times n is a Hutchinson estimate of tr H with density_runs probes: it agrees with
        # the trace within the two estimates' errors (measured within 1.9 standard deviations)
        probe_sd = r["trace stderr"] * math.sqrt(p.quick_trace_probes)
        sd = probe_sd * math.sqrt(1 / p.quick_density_runs + 1 / p.quick_trace_probes)
        assert abs(m["density mean"][kind][name] * n - trace) <= 4 * sd, (kind, name)


def test_slices_pass_through_the_minimum(study):
    module, path, m = study
    with open(path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "slice"]
    for kind, name in cells(module, m):
        line = {float(r["x"]): float(r["y"]) for r in rows if (r["model"], r["optimizer"]) == (kind, name)}
        assert sorted(line) == m["alphas"]
        assert line[0.0] == m["runs"][kind][name][0]["subset loss"]
        if kind == "ann":  # the bottom of the ANN's slice is at (or next to) its weights: measured -0.1 for both
            assert abs(min(line, key=line.get)) <= 0.1, name


def test_sam_verdict_agrees_with_the_runs(study):
    module, _, m = study
    for kind in module.MODELS:
        sam, base = m["runs"][kind]["sam"], m["runs"][kind]["momentum"]
        for key in module.FLATNESS:
            v = m["sam"][kind][key]
            assert v["sam"] == sam[0][key] and v["momentum"] == base[0][key]
            assert v["lower on seeds"] == int(sam[0][key] < base[0][key]) and v["seeds"] == 1


@pytest.mark.usefixtures("one_thread")
def test_a_run_is_deterministic(study):
    """Training and measuring the SNN with SAM again gives the fixture's numbers bit for bit."""
    module, _, m = study
    p = module.Params()
    s = module.setting(p, True, 0)
    sets = digits_train_test(p.test, 0)
    model, history = module.train("snn", "sam", p, s, sets, 0)
    row, _ = module.measure(model, p, s, sets, module.curvature_subset(p, s, sets, 0), 0, first_seed=False)
    first = m["runs"]["snn"]["sam"][0]
    assert len(history) == first["epochs"]
    assert row == {k: v for k, v in first.items() if k != "epochs"}
