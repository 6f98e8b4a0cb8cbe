"""Continuous control: running normalizers by hand, the Gaussian and squashed-Gaussian policies' probabilities,
PPO's clipping to the action bounds, SAC's updates and exact resume, and the agents of both."""
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from neuroai.rl import (GaussianActorCritic, MLPActorCritic, PPOConfig, RunLog, RunningNormalizer, SACConfig,
                        SpikingGaussianActorCritic, SquashedGaussianActor, load_agent, train_dqn, train_ppo,
                        train_sac)
from neuroai.rl.normalization import RewardScaler
from neuroai.rl.rollout import collect, cursor
from neuroai.rl.envs import vector_env

pytestmark = pytest.mark.usefixtures("one_thread")

PENDULUM = gym.make("Pendulum-v1")
SAC = SACConfig(total_timesteps=400, learning_starts=100, batch_size=32, hidden=(32, 32))
PPO = PPOConfig(total_timesteps=512, num_envs=2, num_steps=128, num_minibatches=2, update_epochs=2,
                normalize_rewards=True)


def test_the_running_normalizer_holds_the_mean_and_variance_of_all_it_was_shown():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 2)) for n in (5, 1, 40, 7)]
    norm = RunningNormalizer((2,))
    for b in batches:
        norm.update(torch.from_numpy(b))
    seen = np.concatenate(batches)
    np.testing.assert_allclose(norm.mean.numpy(), seen.mean(0), rtol=1e-8)
    np.testing.assert_allclose(norm.var.numpy(), seen.var(0), rtol=1e-8)
    x = torch.tensor([[3.0, 100.0]])
    expected = np.clip((x.numpy() - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-8), -10, 10)
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-6)
    assert norm(x)[0, 1] == 10.0    # clipped


def test_rewards_are_scaled_by_the_running_spread_of_the_discounted_return():
    scaler = RewardScaler(2, gamma=0.5)
    rewards = [torch.tensor([1.0, 2.0]), torch.tensor([1.0, -1.0]), torch.tensor([4.0, 0.5])]
    ended = [torch.tensor([False, True]), torch.tensor([False, False]), torch.tensor([False, False])]
    returns, seen, out = np.zeros(2), [], []
    for r, e in zip(rewards, ended):
        returns = 0.5 * returns + r.numpy()
        seen += list(returns)
        out.append(scaler(r, e))
        expected = np.clip(r.numpy() / np.sqrt(np.var(seen) + 1e-8), -10, 10)
        np.testing.assert_allclose(out[-1].numpy(), expected, rtol=1e-5)
        returns[e.numpy()] = 0.0


def test_the_gaussian_policy_gives_the_normal_densities_and_draws_with_the_generator():
    policy = GaussianActorCritic(3, 2, log_std_init=-0.5)
    head = torch.tensor([[0.3, -1.0]])
    actions = torch.tensor([[1.0, 0.0]])
    std = np.exp(-0.5)
    by_hand = sum(-0.5 * ((a - m) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
                  for a, m in zip([1.0, 0.0], [0.3, -1.0]))
    assert float(policy.distribution(head).log_prob(actions).detach()) == pytest.approx(by_hand, rel=1e-6)
    assert policy.choose(head, True).equal(head)
    draws = [policy.choose(head, False, torch.Generator().manual_seed(4)) for _ in range(2)]
    assert draws[0].equal(draws[1]) and not draws[0].equal(head)


def test_gsde_draws_its_actions_from_the_distribution_its_log_probabilities_come_from():
    torch.manual_seed(0)
    policy = GaussianActorCritic(3, 2, hidden=(8,), log_std_init=-0.3, normalize=False, state_dependent=True)
    assert policy.log_std.shape == (8, 2)
    n = 40_000
    with torch.no_grad():
        head, _ = policy(torch.randn(1, 3).expand(n, 3))
    policy.reset_noise(n)
    actions = policy.sample(head)          # mean + z(s) @ E, one matrix E per row
    with torch.no_grad():
        normal = policy.distribution(head[:1]).base_dist
    torch.testing.assert_close(actions.mean(0), normal.loc[0], atol=4 * float(normal.scale.max()) / n ** 0.5,
                               rtol=0)
    torch.testing.assert_close(actions.std(0), normal.scale[0], rtol=0.03, atol=0)
    assert policy.sample(head).equal(actions)           # the noise holds until it is redrawn
    policy.reset_noise(n)
    assert not policy.sample(head).equal(actions)
    assert policy.choose(head[:1], True).equal(normal.loc)
    with pytest.raises(RuntimeError, match=r"reset_noise\(3\)"):
        policy.sample(head[:3])


def test_the_rollout_redraws_the_exploration_noise_every_sde_sample_freq_steps():
    policy = GaussianActorCritic(3, 1, hidden=(), normalize=False, state_dependent=True)   # z(s): the observation
    drawn = []
    original = policy.reset_noise
    policy.reset_noise = lambda n: (drawn.append(len(drawn)), original(n))
    envs, obs = vector_env("Pendulum-v1", 2, seed=0)
    batch = collect(envs, policy, cursor(policy, obs, "cpu"), 10, 0.9, noise_every=4)
    assert len(drawn) == 3                                                          # at steps 0, 4 and 8
    noise = batch.actions - policy(batch.obs)[0].detach()                          # (10, 2, 1) = obs @ E
    for block in (slice(0, 4), slice(4, 8)):
        for env in range(2):
            z, e = batch.obs[block, env], noise[block, env]
            solved = torch.linalg.solve(z[:3].double(), e[:3].double())           # E of that block
            torch.testing.assert_close((z[3:].double() @ solved), e[3:].double(), rtol=1e-3, atol=1e-4)
    assert not torch.allclose(torch.linalg.solve(batch.obs[:3, 0], noise[:3, 0]),
                              torch.linalg.solve(batch.obs[4:7, 0], noise[4:7, 0]))


@pytest.mark.parametrize("spiking", [False, True])
def test_ppo_trains_a_gsde_policy_whose_agent_round_trips(tmp_path, spiking):
    torch.manual_seed(0)
    policy = SpikingGaussianActorCritic(3, 1, hidden=16, state_dependent=True) if spiking else \
        GaussianActorCritic(3, 1, state_dependent=True)
    before = policy.log_std.detach().clone()
    result = train_ppo("Pendulum-v1", dataclasses.replace(PPO, sde_sample_freq=4), policy=policy, seed=0,
                       progress=False)
    assert not policy.log_std.equal(before)
    obs = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    loaded = load_agent(result.agent.save(tmp_path / "gsde.pt"))
    assert loaded.policy.state_dependent and loaded.policy.log_std.shape == (16 if spiking else 64, 1)
    np.testing.assert_array_equal(loaded.predict(obs)[0], result.agent.predict(obs)[0])


def test_ortho_init_chooses_orthogonal_layers_or_pytorchs_default():
    torch.manual_seed(0)
    ortho = GaussianActorCritic(3, 1, hidden=(8,))
    w = ortho.actor[0].weight.detach()                     # (8, 3): orthonormal columns times sqrt 2
    torch.testing.assert_close(w.T @ w, 2 * torch.eye(3))
    assert ortho.actor[0].bias.eq(0).all()
    plain = GaussianActorCritic(3, 1, hidden=(8,), ortho_init=False)
    bound = 1 / 3 ** 0.5                                   # PyTorch's uniform bound, 1 / sqrt(fan_in)
    assert plain.actor[0].weight.abs().max() <= bound and plain.actor[0].bias.ne(0).all()
    assert not plain.arguments["ortho_init"]


@pytest.mark.parametrize("state_dependent", [False, True])
def test_squashed_gaussian_log_probabilities_follow_the_change_of_variables(state_dependent):
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, hidden=(8,), low=[-2.0, 0.0], high=[2.0, 1.0],
                                  state_dependent=state_dependent, log_std_init=-1.0).double()
    obs = torch.randn(5, 3, dtype=torch.float64)
    actor.reset_noise()
    actions, log_prob = actor.sample(obs, None if state_dependent else torch.Generator().manual_seed(1))
    mean, log_std = actor(obs)
    u = torch.atanh(actions)
    direct = (torch.distributions.Normal(mean, log_std.exp()).log_prob(u) - torch.log(1 - actions ** 2)).sum(-1)
    torch.testing.assert_close(log_prob, direct, rtol=1e-6, atol=1e-6)
    scaled = actor.act(obs)
    assert ((scaled[:, 0] >= -2) & (scaled[:, 0] <= 2) & (scaled[:, 1] >= 0) & (scaled[:, 1] <= 1)).all()
    torch.testing.assert_close(actor.act(obs), actor.scale(torch.tanh(mean)))
    if state_dependent:      # the held matrix: the same actions until it is redrawn, and u - mean = z(s) @ E
        assert actor.sample(obs)[0].equal(actions)
        features = actor.net[:-1](obs)
        torch.testing.assert_close(u - mean, features @ (actor.log_std.exp() * actor.noise))
        actor.reset_noise()
        assert not actor.sample(obs)[0].equal(actions)


def test_sac_gsde_explores_as_its_log_probabilities_say():
    """Over many draws of the exploration matrix, ``u`` of one observation has the mean and spread of the
    Gaussian whose density the log-probabilities use."""
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 1, hidden=(16,), state_dependent=True, log_std_init=-0.5)
    obs = torch.randn(1, 3)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        u = torch.cat([torch.atanh(actor.sample(obs, generator)[0].clamp(-1 + 1e-6, 1 - 1e-6))
                       for _ in range(3000)])
        mean, log_std = actor(obs)
    assert float(u.mean()) == pytest.approx(float(mean), abs=4 * float(log_std.exp()) / 3000 ** 0.5)
    assert float(u.std()) == pytest.approx(float(log_std.exp()), rel=0.06)


class Recorded(gym.Wrapper):
    """Keeps the actions the environment was given."""

    given: list = []

    def step(self, action):
        Recorded.given.append(np.array(action))
        return self.env.step(action)


def test_ppo_gives_the_environment_actions_clipped_to_the_bounds_and_keeps_the_samples():
    torch.manual_seed(0)
    policy = GaussianActorCritic(3, 1, log_std_init=1.5)      # std 4.5 on actions bounded by 2
    envs, obs = vector_env(lambda: Recorded(gym.make("Pendulum-v1")), 2, seed=0)
    Recorded.given = []
    batch = collect(envs, policy, cursor(policy, obs, "cpu"), 64, 0.9)
    given = np.concatenate(Recorded.given)
    assert np.abs(given).max() == 2.0
    assert batch.actions.abs().max() > 2.0                     # the log-probabilities are those of the samples
    torch.testing.assert_close(batch.log_probs, policy.distribution(policy(batch.obs)[0]).log_prob(batch.actions))


def test_ppo_trains_a_gaussian_policy_whose_agent_round_trips(tmp_path):
    result = train_ppo("Pendulum-v1", PPO, seed=0, progress=False)
    policy = result.model
    assert isinstance(policy, GaussianActorCritic)
    assert float(policy.normalizer.count) == pytest.approx(512, abs=1e-6)    # every rollout's observations
    obs = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    actions, _ = result.agent.predict(obs)
    assert actions.shape == (6, 1) and actions.dtype == np.float32 and np.abs(actions).max() <= 2.0
    before = policy.normalizer.mean.clone()
    loaded = load_agent(result.agent.save(tmp_path / "ppo.pt"))
    np.testing.assert_array_equal(loaded.predict(obs)[0], actions)
    assert policy.normalizer.mean.equal(before) and loaded.policy.normalizer.mean.equal(before)   # acting: frozen
    assert loaded.predict(obs[0])[0].shape == (1,)


def test_the_spiking_gaussian_policy_trains_and_round_trips(tmp_path):
    torch.manual_seed(0)
    result = train_ppo("Pendulum-v1", PPO, policy=SpikingGaussianActorCritic(3, 1, hidden=16), seed=0,
                       progress=False)
    assert 0 < result.model.last_spike_rate < 1
    obs = np.zeros((2, 3), dtype=np.float32)
    loaded = load_agent(result.agent.save(tmp_path / "spiking.pt"))
    np.testing.assert_array_equal(loaded.predict(obs)[0], result.agent.predict(obs)[0])


class Stop(Exception):
    pass


class StopAt(RunLog):
    def __init__(self, step):
        self.step = step

    def update(self, step, values):
        if step >= self.step:
            raise Stop


@pytest.mark.parametrize("config", [SAC, dataclasses.replace(SAC, state_dependent=True, train_freq=4,
                                                             gradient_steps=4)], ids=["gaussian", "gsde"])
def test_sac_resumes_exactly_from_its_checkpoint(tmp_path, config):
    """(gSDE: the checkpoint at step 150 falls inside a stretch of acting with one exploration matrix)"""
    whole = train_sac("Pendulum-v1", config, seed=2, progress=False)
    with pytest.raises(Stop):
        train_sac("Pendulum-v1", config, seed=2, progress=False, checkpoint=tmp_path / "sac.pt",
                  checkpoint_every=150, logger=StopAt(300))
    resumed = train_sac("Pendulum-v1", config, seed=2, progress=False, checkpoint=tmp_path / "sac.pt")
    assert resumed.episodes == whole.episodes and resumed.losses == whole.losses
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        assert a.equal(b)


@pytest.mark.parametrize("state_dependent", [False, True])
def test_sac_agent_acts_within_the_bounds_and_round_trips(tmp_path, state_dependent):
    result = train_sac("Pendulum-v1", dataclasses.replace(SAC, state_dependent=state_dependent), seed=0,
                       progress=False)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    actions, state = result.agent.predict(obs)
    assert state is None and actions.shape == (5, 1) and np.abs(actions).max() <= 2.0
    loaded = load_agent(result.agent.save(tmp_path / "sac.pt"))
    assert loaded.algorithm == "sac"
    np.testing.assert_array_equal(loaded.predict(obs)[0], actions)


def test_the_temperature_moves_towards_the_target_entropy():
    """Below the target entropy the temperature rises (more exploration), above it it falls."""
    for target, rises in ((10.0, True), (-10.0, False)):
        log = Trace()
        train_sac("Pendulum-v1", SACConfig(total_timesteps=200, learning_starts=100, batch_size=16, hidden=(8,),
                                           target_entropy=target), seed=0, progress=False, logger=log)
        assert (log.values[-1]["ent_coef"] > 1.0) == rises


class Trace(RunLog):
    def __init__(self):
        self.values = []

    def update(self, step, values):
        self.values.append(dict(values))


def test_action_spaces_are_checked_where_they_enter():
    with pytest.raises(ValueError, match=r"train_sac: needs continuous actions \(a Box action space\), got "
                                         r"Discrete\(2\)"):
        train_sac("CartPole-v1", SAC, progress=False)
    with pytest.raises(ValueError, match=r"train_ppo: parameter 'policy' must act in the environment's continuous "
                                         r"action space; a MLPActorCritic gives discrete actions \(use "
                                         r"GaussianActorCritic\)"):
        train_ppo("Pendulum-v1", PPO, policy=MLPActorCritic(3, 1), progress=False)
    with pytest.raises(ValueError, match=r"train_ppo: parameter 'policy' must act in the environment's discrete "
                                         r"action space; a GaussianActorCritic gives continuous actions"):
        train_ppo("CartPole-v1", PPO, policy=GaussianActorCritic(4, 2), progress=False)
    with pytest.raises(ValueError, match=r"train_dqn: needs a discrete action space"):
        train_dqn(PENDULUM, progress=False)
    with pytest.raises(ValueError, match=r"SquashedGaussianActor: the action bounds must be finite"):
        SquashedGaussianActor(3, 1, low=-np.inf, high=1.0)
    with pytest.raises(ValueError, match=r"train_ppo: parameter 'policy' must give actions of 1 dimensions and one "
                                         r"value, got actions of shape \(2,\)"):
        train_ppo("Pendulum-v1", PPO, policy=GaussianActorCritic(3, 2, state_dependent=True), progress=False)
    with pytest.raises(ValueError, match=r"PPOConfig: parameter 'sde_sample_freq' must be -1 \(once per rollout\) "
                                         r"or >= 1, got 0"):
        PPOConfig(sde_sample_freq=0)
