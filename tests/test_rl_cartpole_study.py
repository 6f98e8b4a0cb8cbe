"""The rl_cartpole study, run quick (seed 0): files, table, curves."""
import csv

import pytest
import torch

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


def test_a_run_does_not_depend_on_what_ran_before_it(study):
    module, _, _ = study
    p = module.Params(steps=1024, eval_episodes=1)
    first = module.one_run("spiking_ppo", 3, p)
    torch.rand(1000)  # another run in the same process moves torch's generator
    second = module.one_run("spiking_ppo", 3, p)
    assert first["episodes"] == second["episodes"] and len(first["episodes"]) > 5


def test_an_lstm_policy_learns_the_masked_task_a_memoryless_policy_cannot(study):
    module, _, _ = study
    p = module.Params(steps=40_000, eval_episodes=5)
    lstm, mlp = (module.one_run(agent, 0, p) for agent in ("lstm_ppo_masked", "mlp_ppo_masked"))
    # with the velocities hidden the MLP stays near 45 (random: 22); the LSTM infers them from the positions
    # (seed 0, 40,000 steps: last-100 mean 132 against 49, greedy 277 against 46)
    assert lstm["last100"] > 2 * mlp["last100"] and lstm["greedy"] > 2 * mlp["greedy"]


def test_policies_fit_the_environment_and_masked_agents_stay_on_cartpole(study, tmp_path):
    module, _, _ = study
    result, _ = module.train("spiking_ppo", module.Params(env="Acrobot-v1", steps=512), 0)
    assert (result.model.encoder.in_features, result.model.actor.out_features) == (6, 3)   # Acrobot's
    with pytest.raises(ValueError, match=r"rl_cartpole: agents \['lstm_ppo_masked'\] hide CartPole's velocities"):
        cli.execute("rl_cartpole", module.run, env="Acrobot-v1", agents=["lstm_ppo_masked"], out=tmp_path)


def test_each_ppo_agent_trains_with_its_own_settings(study, monkeypatch):
    from neuroai.rl import PPOConfig, TrainResult
    from neuroai.rl.policies import MLPActorCritic
    module, _, _ = study
    configs = []

    def record(env, config, policy=None, **options):
        configs.append(config)
        return TrainResult([], policy or MLPActorCritic(4, 2), 1.0, 0)

    monkeypatch.setattr(module, "train_ppo", record)
    p = module.Params(steps=1024)
    for agent in ("ppo", "spiking_ppo", "lstm_ppo_masked", "mlp_ppo_masked"):
        module.train(agent, p, 0)
    plain, spiking, lstm, mlp = configs
    assert plain == PPOConfig(total_timesteps=1024)                      # CleanRL's settings
    assert spiking == PPOConfig(total_timesteps=1024, **module.SPIKING_PPO)
    assert spiking.learning_rate != plain.learning_rate
    assert lstm == mlp == PPOConfig(total_timesteps=1024, **module.MASKED_PPO)   # the control shares the LSTM's
