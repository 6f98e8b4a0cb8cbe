"""The rl_cartpole study, run quick (seed 0): files, table, curves."""
import csv

import pytest

from neuroai import cli

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("rl_cartpole")
    record, metrics = cli.execute("rl_cartpole", module.run, quick=True, seed=0, out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_and_every_agent(study):
    module, path, m = study
    assert list(m) == list(module.QUICK["agents"])
    for f in ("config.json", "metrics.csv", "summary.md", "rl_cartpole.png"):
        assert (path / f).stat().st_size > 0, f
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["agent"] for r in rows} == set(module.QUICK["agents"])
    assert all(float(r["return"]) >= 8 for r in rows)     # CartPole episodes last at least 8 steps


def test_gradient_agents_learn_within_the_quick_budget(study):
    _, _, m = study
    # a uniformly random policy averages about 22 on CartPole-v1
    assert m["ppo"]["greedy return"] > 60 and m["a2c"]["last-100 mean return"] > 60
    assert 0 < m["spiking_ppo"]["spikes per neuron and step"] < 1
