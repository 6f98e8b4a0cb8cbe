"""The continuous_control study, run quick (seed 0): files, every agent, the zoo's figures beside its own."""
import csv

import pytest

from neuroai import cli

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("continuous_control")
    record, out = cli.execute("continuous_control", module.run, quick=True, seed=0, workers=1,
                              out=tmp_path_factory.mktemp("runs"))
    return module, record.path, out


def test_every_agent_is_trained_evaluated_and_set_beside_the_zoo(study):
    module, path, out = study
    assert list(out) == list(module.AGENTS)
    for agent, row in out.items():
        assert row["steps"] == 1600
        assert len(row["evaluation returns"]) == 1 and -2000 < row["mean"] <= 0    # Pendulum's returns
        assert row["zoo"] == module.ZOO[("sac" if agent == "sac" else "ppo", "Pendulum-v1")][0]
    for f in ("config.json", "metrics.csv", "summary.md", "continuous_control.png"):
        assert (path / f).stat().st_size > 0, f
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["agent"] for r in rows} == set(module.AGENTS)
    assert "-172.225 at 100,000" in (path / "summary.md").read_text()


@pytest.mark.parametrize("env", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_the_zoo_settings_of_every_environment_build_their_agents(env):
    """(a cheap check that the study's per-environment settings are valid; its runs are the quick study's)"""
    from neuroai.rl import PPOConfig, SACConfig

    module = cli.load("continuous_control")
    assert set(module.PPO) == set(module.POLICY) == set(module.SAC) == set(module.ENVS)
    assert {algorithm for algorithm, e in module.ZOO if e == env} == {"ppo", "sac"}
    PPOConfig(**module.PPO[env])
    SACConfig(**module.SAC[env])
    for agent in ("ppo", "spiking_ppo"):
        assert module.ppo_policy(agent, env).state_dependent
