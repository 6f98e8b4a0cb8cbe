"""The saddle_escape study, run quick (seed 0): files written, who escapes the saddle, and how fast."""
import csv
import json
import math

import numpy as np
import pytest

from neuroai import cli
from neuroai.landscape import classify, critical_points

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("saddle_escape")
    record, metrics = cli.execute("saddle_escape", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def _sweep(m, sweep, method):
    return [r for r in m["sweeps"] if r["sweep"] == sweep and r["method"] == method]


def _standard_error(row):
    return row["std"] / math.sqrt(row["escaped"])


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "saddle_escape.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["noise_seeds"] == m["noise_seeds"]
    assert list(m["methods"]) == list(module.METHODS)
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows if r["table"] == "methods"] == list(module.METHODS)
    assert sum(r["table"] == "sweep" for r in rows) == len(m["sweeps"])


def test_the_function_has_a_strict_saddle_and_two_minima(study):
    module, _, _ = study
    function = module.saddle_function(2)
    found = critical_points(function, n_starts=32, seed=0)
    assert sorted(c.kind for c in found) == ["minimum", "minimum", "saddle"]
    saddle = classify(function, [0.0, 0.0])
    assert saddle.eigenvalues.min() == pytest.approx(module.LAMBDA_MIN)
    assert saddle.value == module.SADDLE_VALUE


def test_pure_newton_converges_to_the_saddle(study):
    module, _, m = study
    r = m["methods"][module.PURE_NEWTON]
    assert r["escaped"] == 0 and r["final kinds"] == {"saddle": 1}
    assert np.linalg.norm(r["final point"]) < 1e-6


def test_descent_methods_escape_to_a_minimum(study):
    _, _, m = study
    for name in ("gd", "noisy gd", "momentum", "nesterov", "adam", "newton (saddle-free, line search)",
                 "armijo_full_relaxation", "bfgs"):
        r = m["methods"][name]
        assert r["escaped"] == r["runs"] >= 1, name
        assert r["final kinds"] == {"minimum": r["runs"]}, name
        assert abs(abs(r["final point"][-1]) - math.sqrt(2)) < 0.05, name     # y = +-sqrt 2


def test_full_relaxation_lands_on_the_valley_floor_then_triples_the_offset(study):
    module, _, m = study
    p = module.Params()
    r = m["methods"][module.FULL_RELAXATION]
    # step 1: the exact line search across the stable valley, x -> 0, y -> 2 y_0; then lr = 1 at negative
    # curvature: y -> y + lr |lambda_min| y = 3 y per step
    assert abs(r["mean"] - (1 + math.log(module.Y_STAR / (2 * p.offset)) / math.log(3))) <= 1
    assert r["mean"] < m["methods"]["newton (saddle-free, line search)"]["mean"]


def test_noise_escapes_faster_than_gd_from_a_tiny_offset(study):
    _, _, m = study
    gd, noisy = m["methods"]["gd"], m["methods"]["noisy gd"]
    assert noisy["runs"] >= 5
    assert noisy["mean"] + 3 * noisy["std"] < gd["mean"]


def test_momentum_escapes_faster_than_gd(study):
    module, _, m = study
    p = module.Params()
    gd, momentum = m["methods"]["gd"]["mean"], m["methods"]["momentum"]["mean"]
    # heavy ball's growth rate per step along the unstable direction, against GD's 1 + lr |lambda|
    a = 1 + p.lr * abs(module.LAMBDA_MIN) + p.momentum
    heavy = (a + math.sqrt(a * a - 4 * p.momentum)) / 2
    speedup = math.log(heavy) / math.log(1 + p.lr * abs(module.LAMBDA_MIN))
    assert speedup > 2
    assert momentum < gd / 2


def test_gd_escape_time_grows_with_log_of_inverse_offset(study):
    module, _, m = study
    p = module.Params()
    rows = sorted((r for r in _sweep(m, "offset", "gd") if r["offset"] > 0), key=lambda r: -r["offset"])
    assert len(rows) >= 2 and all(r["escaped"] == 1 for r in rows)
    per_decade = math.log(10) / math.log(1 + p.lr * abs(module.LAMBDA_MIN))
    for big, small in zip(rows, rows[1:]):
        decades = math.log10(big["offset"] / small["offset"])
        assert small["mean"] - big["mean"] == pytest.approx(decades * per_decade, rel=0.05)
    (exact,) = [r for r in _sweep(m, "offset", "gd") if r["offset"] == 0]
    assert exact["escaped"] == 0                 # on the stable manifold GD never leaves


def test_noise_removes_the_dependence_on_the_offset(study):
    _, _, m = study
    noisy = _sweep(m, "offset", "noisy gd")
    gd = [r for r in _sweep(m, "offset", "gd") if r["escaped"]]
    assert all(r["escaped"] == r["runs"] for r in noisy)        # also from offset 0
    means = [r["mean"] for r in noisy]
    gd_means = [r["mean"] for r in gd]
    assert max(means) - min(means) < 0.1 * (max(gd_means) - min(gd_means))
    for r in noisy:                          # the linearized prediction, within 3 standard errors and 5 steps
        assert abs(r["mean"] - r["linear theory"]) < 3 * _standard_error(r) + 5, r["offset"]


def test_escape_time_does_not_grow_with_the_dimension(study):
    _, _, m = study
    gd = sorted(_sweep(m, "dim", "gd"), key=lambda r: r["dim"])
    noisy = sorted(_sweep(m, "dim", "noisy gd"), key=lambda r: r["dim"])
    assert gd[-1]["dim"] >= 50 * gd[0]["dim"]
    assert len({r["mean"] for r in gd}) == 1
    low, high = noisy[0], noisy[-1]
    assert high["escaped"] == high["runs"]
    assert abs(high["mean"] - low["mean"]) < 3 * math.hypot(_standard_error(low), _standard_error(high))
