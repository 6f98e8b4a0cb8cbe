"""The optimizers_on_networks study, run quick (seed 0): files, budgets and learning as measured."""
import csv
import math

import pytest

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("optimizers_on_networks")
    record, metrics = cli.execute("optimizers_on_networks", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_every_pair_trained_and_written(study):
    module, path, m = study
    optimizers = module.QUICK["optimizers"]
    assert set(m) == {f"{kind}/{name}" for kind in module.MODELS for name in optimizers}
    for f in ("config.json", "metrics.csv", "summary.md", "optimizers_on_networks.png"):
        assert (path / f).stat().st_size > 0, f
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["optimizer"]) for r in rows} == {(k, n) for k in module.MODELS for n in optimizers}


def test_equal_budgets_in_passes(study):
    module, _, m = study
    budget = module.QUICK["passes"]
    for key, result in m.items():
        assert not result["diverged"], key
        assert result["passes"] >= budget, key
        if key.endswith(("/sgd", "/momentum", "/adam")):  # mini-batch steps: overshoot by at most one batch
            assert result["passes"] - budget < 0.05, key


def test_both_models_learn_with_first_order_methods(study):
    _, _, m = study
    chance = math.log(10)   # cross-entropy of uniform logits
    for kind in ("mlp", "snn"):
        for name in ("sgd", "momentum"):
            assert m[f"{kind}/{name}"]["train_loss"] < 0.6 * chance, (kind, name)
            assert m[f"{kind}/{name}"]["test_accuracy"] > 0.6, (kind, name)
    # every method of the suite makes progress on the MLP
    assert all(r["train_loss"] < chance for k, r in m.items() if k.startswith("mlp/"))
