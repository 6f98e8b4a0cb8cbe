"""Reinforcement learning: returns and GAE by hand, the replay buffer, DQN's targets, PPO's clip, short runs."""
import numpy as np
import pytest
import torch

from neuroai.rl import (A2CConfig, DQNConfig, PPOConfig, QNetwork, ReinforceConfig, ReplayBuffer, TrainResult,
                        discounted_returns, evaluate, gae, train_a2c, train_dqn, train_ppo, train_reinforce)
from neuroai.rl.dqn import epsilon, td_targets, update_target
from neuroai.rl.policies import Greedy, LSTMActorCritic, MLPActorCritic
from neuroai.rl.ppo import ppo_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def test_discounted_returns_by_hand():
    # one environment, rewards 1, 2, 3 with the episode ending at t = 1: G = [1 + 0.5*2, 2, 3 + 0.5*10]
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    g = discounted_returns(rewards, dones, gamma=0.5, bootstrap=torch.tensor([10.0]))
    torch.testing.assert_close(g, torch.tensor([[2.0], [2.0], [8.0]]))


def test_gae_by_hand():
    r, v = torch.tensor([[1.0], [1.0]]), torch.tensor([[0.5], [0.25]])
    d = torch.zeros(2, 1)
    gamma, lam, nv = 0.9, 0.8, torch.tensor([2.0])
    delta1 = 1 + 0.9 * 2.0 - 0.25            # 2.55
    delta0 = 1 + 0.9 * 0.25 - 0.5            # 0.725
    a, ret = gae(r, v, d, nv, gamma, lam)
    torch.testing.assert_close(a, torch.tensor([[delta0 + 0.9 * 0.8 * delta1], [delta1]]))
    torch.testing.assert_close(ret, a + v)
    # lambda = 1: advantages are the discounted returns minus the values
    a1, _ = gae(r, v, d, nv, gamma, 1.0)
    torch.testing.assert_close(a1 + v, discounted_returns(r, d, gamma, nv))
    # an episode end at t = 0 cuts everything after it
    a_cut, _ = gae(r, v, torch.tensor([[1.0], [0.0]]), nv, gamma, lam)
    torch.testing.assert_close(a_cut[0], torch.tensor([1.0 - 0.5]))


def test_replay_buffer_wraps_around_and_samples_what_it_holds():
    buffer = ReplayBuffer(5, (2,), seed=0)
    for k in range(7):   # 7 transitions into 5 slots: the first two are overwritten
        buffer.add(np.full((1, 2), k), [k % 2], [float(k)], np.full((1, 2), k + 1), [0.0])
    assert len(buffer) == 5 and sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert isinstance(buffer.sample(3).obs, torch.Tensor)
    batch = buffer.sample(1000)
    assert set(batch.rewards.tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0}
    torch.testing.assert_close(batch.obs[:, 0], batch.rewards)          # rows stay together
    torch.testing.assert_close(batch.next_obs[:, 0], batch.rewards + 1)
    counts = np.bincount(batch.rewards.int().numpy(), minlength=7)[2:]
    assert counts.min() > 150                                             # uniform: ~200 each
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(3, (1,)).sample(1)


def test_replay_buffer_state_dict_resumes_the_sampling_sequence():
    a = ReplayBuffer(8, (1,), seed=3)
    a.add(np.arange(8).reshape(8, 1), np.zeros(8), np.arange(8.0), np.arange(8).reshape(8, 1), np.zeros(8))
    b = ReplayBuffer(8, (1,), seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.sample(20).rewards, b.sample(20).rewards)


def test_target_network_update_copies_or_blends():
    online, target = QNetwork(3, 2), QNetwork(3, 2)
    before = [p.clone() for p in target.parameters()]
    update_target(target, online, tau=0.25)
    for t, o, b in zip(target.parameters(), online.parameters(), before):
        torch.testing.assert_close(t, 0.25 * o + 0.75 * b)
    update_target(target, online, tau=1.0)
    for t, o in zip(target.parameters(), online.parameters()):
        assert torch.equal(t, o)


def test_double_dqn_evaluates_the_online_argmax_with_the_target_network():
    online, target = QNetwork(1, 2, hidden=()), QNetwork(1, 2, hidden=())
    with torch.no_grad():   # Q(s') = weight * s' + bias: online prefers action 0, target action 1
        online.head.weight.copy_(torch.tensor([[0.0], [0.0]]))
        online.head.bias.copy_(torch.tensor([1.0, 0.0]))
        target.head.weight.copy_(torch.tensor([[0.0], [0.0]]))
        target.head.bias.copy_(torch.tensor([2.0, 5.0]))
    args = (torch.tensor([1.0, 1.0]), torch.zeros(2, 1), torch.tensor([0.0, 1.0]))
    plain = td_targets(DQNConfig(gamma=0.5), online, target, *args)
    double = td_targets(DQNConfig(gamma=0.5, double=True), online, target, *args)
    torch.testing.assert_close(plain, torch.tensor([1 + 0.5 * 5.0, 1.0]))   # max of the target network
    torch.testing.assert_close(double, torch.tensor([1 + 0.5 * 2.0, 1.0]))  # target's value of online's choice


def test_dueling_head_centres_the_advantages():
    net = QNetwork(4, 3, dueling=True)
    obs = torch.randn(5, 4)
    features = net.trunk(obs)
    a = net.head(features)
    torch.testing.assert_close(net(obs).mean(1), net.value(features).squeeze(1))  # mean_a Q = V
    torch.testing.assert_close(net(obs) - net(obs).mean(1, keepdim=True), a - a.mean(1, keepdim=True))


def test_epsilon_decays_linearly_then_stays():
    c = DQNConfig(total_timesteps=1000, exploration_fraction=0.5, start_epsilon=1.0, end_epsilon=0.1)
    assert epsilon(c, 0) == 1.0 and epsilon(c, 250) == pytest.approx(0.55) and epsilon(c, 900) == 0.1


def test_ppo_clip_stops_the_gradient_beyond_the_trust_region():
    config = PPOConfig(ent_coef=0.0, vf_coef=0.0, clip_coef=0.2)
    policy = MLPActorCritic(2, 2)
    obs, actions = torch.randn(64, 2), torch.randint(0, 2, (64,))
    with torch.no_grad():
        logits, _ = policy(obs)
        log_probs = torch.distributions.Categorical(logits=logits).log_prob(actions)
    advantages = torch.tensor([1.0, -1.0]).repeat(32)          # normalized: still +-1 (up to the 1e-8)
    # the old policy was e times less likely everywhere: ratio e > 1 + clip. Where A > 0 the clipped term
    # (1.2 A, constant) is the minimum and gives no gradient; where A < 0 the unclipped e A is, and does.
    logits, values = policy(obs)
    loss, stats = ppo_loss(config, logits, values, actions, log_probs - 1.0, advantages, torch.zeros(64))
    policy.zero_grad()
    loss.backward()
    clipped = [p.grad.clone() for p in policy.actor.parameters()]
    assert stats["clip_fraction"] == 1.0

    logits, _ = policy(obs)
    ratio = (torch.distributions.Categorical(logits=logits).log_prob(actions) - (log_probs - 1.0)).exp()
    normalized = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    only_negative = (-normalized * ratio * (normalized < 0)).sum() / 64
    policy.zero_grad()
    only_negative.backward()
    for a, b in zip(clipped, policy.actor.parameters()):
        torch.testing.assert_close(a, b.grad)
    torch.testing.assert_close(loss, torch.max(-normalized * ratio, -normalized * 1.2).mean())


def test_steps_to_solve():
    episodes = [(10 * k, float(k)) for k in range(1, 301)]   # returns 1..300
    result = TrainResult(episodes, torch.nn.Linear(1, 1), 0.0, 3000)
    # mean of the 100 returns ending at k is k - 49.5 >= 200 first at k = 250 (step 2500)
    assert result.steps_to_solve(200.0) == 2500 and result.steps_to_solve(1000.0) is None


@pytest.mark.slow
def test_short_runs_learn_cartpole_well_above_random():
    # a uniformly random policy averages ~22 on CartPole-v1
    ppo = train_ppo(config=PPOConfig(total_timesteps=25_000), seed=0, progress=False)
    assert ppo.returns()[-20:].mean() > 80
    dqn = train_dqn(config=DQNConfig(total_timesteps=15_000, learning_starts=1000, exploration_fraction=0.3,
                                     train_frequency=4, target_update=250), seed=0, progress=False)
    greedy = evaluate(lambda o: dqn.model(o).argmax(1), "CartPole-v1", episodes=5)
    assert greedy.mean() > 80
    # seeded: the same seed gives the same episodes
    again = train_ppo(config=PPOConfig(total_timesteps=2048), seed=0, progress=False)
    once = train_ppo(config=PPOConfig(total_timesteps=2048), seed=0, progress=False)
    assert again.episodes == once.episodes


@pytest.mark.slow
@pytest.mark.parametrize("train, config", [(train_a2c, A2CConfig(total_timesteps=20_000)),
                                           (train_reinforce, ReinforceConfig(total_timesteps=20_000))])
def test_actor_critic_and_reinforce_learn_cartpole(train, config):
    result = train(config=config, seed=0, progress=False)
    assert result.returns()[:10].mean() < 40 and result.returns()[-10:].mean() > 80


def test_bad_configuration_fails_clearly():
    with pytest.raises(ValueError, match="needs a discrete action space"):
        train_dqn("Pendulum-v1", DQNConfig(total_timesteps=10), progress=False)
    with pytest.raises(ValueError, match="DQNConfig: parameter 'learning_rate' must be > 0"):
        DQNConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="PPOConfig: parameter 'learning_rate' must be > 0"):
        PPOConfig(learning_rate=-1e-3)
    with pytest.raises(ValueError, match="must be divisible by num_minibatches"):
        PPOConfig(num_envs=3, num_steps=5, num_minibatches=4)
    with pytest.raises(ValueError, match="train_reinforce: needs a discrete action space"):
        train_reinforce("Pendulum-v1", ReinforceConfig(total_timesteps=10), progress=False)
    with pytest.raises(ValueError, match="A2CConfig: parameter 'gamma' must be in"):
        A2CConfig(gamma=1.5)
    with pytest.raises(ValueError, match="unknown environment 'CartPol-v1'"):
        train_ppo("CartPol-v1", progress=False)
    with pytest.raises(ValueError, match="mask_velocity hides CartPole's velocities; environment 'Acrobot-v1'"):
        train_ppo("Acrobot-v1", mask_velocity=True, progress=False)
    with pytest.raises(ValueError, match="LSTMActorCritic: parameter 'hidden' must be >= 1, got 0"):
        LSTMActorCritic(2, 2, hidden=0)


@pytest.mark.parametrize("shared", [False, True])
def test_a_recurrent_rollout_replays_exactly_in_minibatches(shared):
    # PPO's ratio must start at 1: replaying each environment's sequence from the rollout's initial
    # state, with resets at episode starts, gives the log-probabilities and values seen while acting
    from neuroai.rl.envs import vector_env
    from neuroai.rl.ppo import minibatches
    from neuroai.rl.rollout import collect, cursor
    torch.manual_seed(0)
    envs, obs = vector_env("CartPole-v1", 4, 0, mask_velocity=True)
    policy = LSTMActorCritic(2, 2, hidden=16, shared=shared)
    batch = collect(envs, policy, cursor(policy, obs, "cpu"), 64, 0.99)
    assert batch.dones.sum() > 4     # several episodes ended inside the rollout
    seen = 0
    for logits, values, index in minibatches(PPOConfig(num_envs=4, num_steps=64), policy, batch, "cpu"):
        log_probs = torch.distributions.Categorical(logits=logits).log_prob(batch.actions[index].flatten())
        torch.testing.assert_close(log_probs, batch.log_probs[index].flatten(), rtol=0, atol=1e-6)
        torch.testing.assert_close(values, batch.values[index].flatten(), rtol=0, atol=1e-6)
        seen += len(values)
    assert seen == 4 * 64


@pytest.mark.parametrize("shared", [False, True])
def test_lstm_policy_forgets_at_episode_starts(shared):
    policy = LSTMActorCritic(3, 2, hidden=8, shared=shared)
    obs = torch.randn(6, 1, 3)
    starts = torch.tensor([[1.0], [0.0], [0.0], [1.0], [0.0], [0.0]])
    state = policy.initial_state(1)
    logits, values, _ = policy.sequence(obs, state, starts)
    second, second_values, _ = policy.sequence(obs[3:], policy.initial_state(1), starts[3:])
    torch.testing.assert_close(logits[3:], second)     # the second episode does not see the first
    torch.testing.assert_close(values[3:], second_values)
    carried, carried_values, _ = policy.sequence(obs, state, torch.zeros(6, 1))
    assert not torch.allclose(carried[3:], second) and not torch.allclose(carried_values[3:], second_values)


def test_greedy_carries_a_recurrent_state_through_an_episode_and_forgets_it_at_reset():
    torch.manual_seed(0)
    policy = LSTMActorCritic(2, 2, hidden=8)
    obs = torch.randn(5, 3, 2)
    starts = torch.zeros(5, 3)
    starts[0] = 1
    logits, _, final = policy.sequence(obs, policy.initial_state(3), starts)
    act = Greedy(policy)
    actions = torch.stack([act(o) for o in obs])
    assert torch.equal(actions, logits.argmax(-1))
    torch.testing.assert_close(act.state, final)     # the state went through all five steps
    act.reset()
    act(obs[3])
    _, _, fresh = policy.sequence(obs[3:4], policy.initial_state(3), torch.ones(1, 3))
    torch.testing.assert_close(act.state, fresh)


def test_evaluate_resets_a_stateful_policy_at_every_episode():
    class Counting:
        resets = 0

        def reset(self):
            self.resets += 1

        def __call__(self, obs):
            return torch.zeros(len(obs), dtype=torch.long)

    act = Counting()
    returns = evaluate(act, "CartPole-v1", episodes=3)
    assert act.resets == 3 and len(returns) == 3


def test_a_frame_strip_shows_the_episode_side_by_side():
    from neuroai.rl import frame_strip

    def left(obs):
        return torch.zeros(len(obs), dtype=torch.long)  # always push left: the pole falls within ~10 steps

    strip = frame_strip(left, "CartPole-v1", frames=4, every=3, seed=0)
    length = int(evaluate(left, "CartPole-v1", episodes=1, seed=0)[0])  # reward 1 per step
    shown = min(4, (length - 1) // 3 + 1)  # frames at steps 0, 3, 6, 9 of the episode
    assert strip.dtype == np.uint8 and strip.shape == (400, 600 * shown, 3)
    first, last = strip[:, :600], strip[:, 600 * (shown - 1):]
    assert not np.array_equal(first, last)  # the cart moved
    with pytest.raises(ValueError, match="'every'"):
        frame_strip(left, "CartPole-v1", every=0)
