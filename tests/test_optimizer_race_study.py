"""The optimizer_race study, run quick (seed 0): files written, seeded learning-rate search, Newton-type methods win."""
import csv
import json
import math

import numpy as np
import pytest

from neuroai import cli
from neuroai.landscape import benchmark_function, trajectory
from neuroai.optim import OPTIMIZERS, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("optimizer_race")
    record, metrics = cli.execute("optimizer_race", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "paths.png", "steps_to_tol.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["lr_candidates_used"] == pytest.approx(m["lr_candidates"])
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["function"], r["optimizer"]) for r in rows] == [
        (fn, name) for fn in module.QUICK_FUNCTIONS for name in module.QUICK_RACERS]
    assert list(m["results"]) == list(module.QUICK_FUNCTIONS)
    # the full race: the whole suite but SVRG and the methods for matrices or sparse gradients only
    assert set(module.RACERS) == {n for n, s in OPTIMIZERS.items() if s.takes == "any"} - {"svrg"}
    assert {"sam", "asam", "nadam", "armijo_full_relaxation"} <= set(module.RACERS)


def test_learning_rate_candidates_are_seeded_and_stratified(study):
    module, _, m = study
    p = module.Params()
    lrs = m["lr_candidates"]
    assert lrs == module.candidate_lrs(p.lr_range, p.quick_lr_candidates, 0).tolist()
    assert lrs != module.candidate_lrs(p.lr_range, p.quick_lr_candidates, 1).tolist()
    edges = np.linspace(*np.log10(p.lr_range), len(lrs) + 1)      # one sample in each slice of the log range
    assert np.all((edges[:-1] <= np.log10(lrs)) & (np.log10(lrs) < edges[1:]))
    for function, results in m["results"].items():
        for name, r in results.items():
            assert r["tuned"] == (not OPTIMIZERS[name].line_search), (function, name)
            if r["tuned"]:
                assert r["lr"] in lrs, (function, name)
            else:
                assert r["lr"] == p.first_trial_step, (function, name)


def test_tuning_is_deterministic(study):
    module, _, m = study
    p = module.Params()
    rosenbrock = benchmark_function("rosenbrock")
    for name in ("sgd", "adam"):
        lr, path = module.race(rosenbrock, name, np.array(m["lr_candidates"]), p, m["steps"], seed=0)
        assert lr == m["results"]["rosenbrock"][name]["lr"], name
        assert module.final_error(rosenbrock, path) == m["results"]["rosenbrock"][name]["final_error"], name


def test_tuned_lr_is_the_fastest_candidate(study):
    module, _, m = study
    p = module.Params()
    beale = benchmark_function("beale")
    chosen = m["results"]["beale"]["momentum"]
    assert chosen["steps_to_tol"] is not None
    for lr in m["lr_candidates"]:           # an independent re-run of every candidate: none is faster
        path = trajectory(beale, lambda q: make_optimizer("momentum", q, lr=lr), steps=m["steps"], tol=p.tol)
        assert not path.converged or path.steps_to_tol >= chosen["steps_to_tol"], lr


def test_reached_means_within_tolerance(study):
    _, _, m = study
    for function, results in m["results"].items():
        for name, r in results.items():
            if r["steps_to_tol"] is not None:
                assert r["final_error"] <= m["tol"], (function, name)
                assert r["distance"] < 1e-2, (function, name)
                assert r["evaluations"] >= r["steps_to_tol"], (function, name)
            else:
                assert r["final_error"] > m["tol"], (function, name)


def test_second_order_methods_beat_sgd_on_rosenbrock(study):
    _, _, m = study
    r = m["results"]["rosenbrock"]
    sgd = r["sgd"]["steps_to_tol"]
    for name in ("newton", "bfgs", "lbfgs"):
        steps = r[name]["steps_to_tol"]
        assert steps is not None and steps <= m["steps"] / 4, name
        assert sgd is None or sgd >= 10 * steps, name
    # SGD, even with its best learning rate, is still far up the banana valley
    assert sgd is not None or r["sgd"]["final_error"] > 1e3 * m["tol"]
    assert not math.isnan(r["sgd"]["final_error"])
