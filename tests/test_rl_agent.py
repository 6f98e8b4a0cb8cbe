"""A trained agent predicts as Stable-Baselines3's predict does, and comes back from its weights-only file
acting exactly as before; bad files and inputs are refused clearly."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from neuroai.rl import (Agent, DQNConfig, Greedy, LSTMActorCritic, PPOConfig, SpikingActorCritic, evaluate,
                        load_agent, train_dqn, train_ppo)
from neuroai.rl.policies import ActorCritic
from neuroai.training.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

CARTPOLE = gym.make("CartPole-v1")
OBS = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)


def test_a_trained_ppo_agent_round_trips_through_its_file(tmp_path):
    result = train_ppo("CartPole-v1", PPOConfig(total_timesteps=512, num_envs=2, num_steps=64), seed=0,
                       progress=False)
    agent = result.agent
    assert agent.policy is result.model and agent.algorithm == "ppo"
    actions, state = agent.predict(OBS)
    assert state is None and actions.shape == (16,) and actions.dtype.kind == "i"
    np.testing.assert_array_equal(actions, result.model(torch.from_numpy(OBS))[0].argmax(-1).numpy())
    one, _ = agent.predict(OBS[3])
    assert one.shape == () and one == actions[3]

    loaded = load_agent(agent.save(tmp_path / "agent.pt"))
    np.testing.assert_array_equal(loaded.predict(OBS)[0], actions)
    assert loaded.observation_space == CARTPOLE.observation_space and loaded.action_space == CARTPOLE.action_space
    for a, b in zip(loaded.policy.parameters(), agent.policy.parameters()):
        assert a.equal(b)

    # a whole episode played with predict returns what evaluate gives the greedy policy on the same seed
    obs, _ = CARTPOLE.reset(seed=7)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = CARTPOLE.step(int(loaded.predict(obs)[0]))
        total, done = total + reward, terminated or truncated
    assert total == evaluate(Greedy(result.model), "CartPole-v1", episodes=1, seed=7)[0]


def test_stochastic_actions_are_drawn_with_the_given_generator(tmp_path):
    agent = Agent(SpikingActorCritic(4, 2), "ppo", CARTPOLE.observation_space, CARTPOLE.action_space)
    torch.nn.init.normal_(agent.policy.actor.weight, std=3.0)   # (logits far from uniform and from one-hot)
    draws = [agent.predict(OBS, deterministic=False, generator=torch.Generator().manual_seed(1))[0]
             for _ in range(2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    many = np.stack([agent.predict(OBS, deterministic=False, generator=torch.Generator().manual_seed(s))[0]
                     for s in range(20)])
    assert (many != agent.predict(OBS)[0]).any()    # sampled, not the argmax
    loaded = load_agent(agent.save(tmp_path / "spiking.pt"))
    assert loaded.policy.steps == agent.policy.steps
    np.testing.assert_array_equal(loaded.predict(OBS)[0], agent.predict(OBS)[0])


@pytest.mark.parametrize("shared", [False, True])
def test_a_recurrent_agent_carries_its_state_from_call_to_call(shared, tmp_path):
    """Step by step through predict, with episode starts, the actions are those of the policy's sequence over
    the same observations; the loaded agent gives them too."""
    torch.manual_seed(0)
    policy = LSTMActorCritic(4, 2, hidden=8, shared=shared)
    agent = Agent(policy, "ppo", CARTPOLE.observation_space, CARTPOLE.action_space)
    obs = torch.from_numpy(OBS[:12].reshape(6, 2, 4))
    starts = torch.zeros(6, 2)
    starts[0] = 1
    starts[3, 1] = 1
    logits, _, _ = policy.sequence(obs, policy.initial_state(2), starts)
    expected = logits.argmax(-1).numpy()
    for who in (agent, load_agent(agent.save(tmp_path / "lstm.pt"))):
        state, got = None, []
        for t in range(6):
            actions, state = who.predict(obs[t].numpy(), state, episode_start=starts[t].numpy().astype(bool))
            got.append(actions)
        np.testing.assert_array_equal(np.stack(got), expected)


def test_a_dqn_agent_acts_greedily_and_round_trips(tmp_path):
    result = train_dqn("CartPole-v1", DQNConfig(total_timesteps=200, learning_starts=50, dueling=True), seed=0,
                       progress=False)
    greedy = result.model(torch.from_numpy(OBS)).argmax(-1).numpy()
    np.testing.assert_array_equal(result.agent.predict(OBS, deterministic=False)[0], greedy)
    loaded = load_agent(result.agent.save(tmp_path / "dqn.pt"))
    assert loaded.algorithm == "dqn" and loaded.policy.dueling
    np.testing.assert_array_equal(loaded.predict(OBS)[0], greedy)


class Custom(ActorCritic):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, obs):
        out = self.layer(obs)
        return out[..., :2], out[..., 2]


def test_bad_files_and_inputs_are_refused_clearly(tmp_path):
    agent = Agent(Custom(), "a2c", CARTPOLE.observation_space, CARTPOLE.action_space)
    path = agent.save(tmp_path / "custom.pt")
    with pytest.raises(ValueError, match=r"load_agent: .*custom.pt' holds a Custom, which neuroai cannot rebuild; "
                                         r"pass policy="):
        load_agent(path)
    np.testing.assert_array_equal(load_agent(path, policy=Custom()).predict(OBS)[0], agent.predict(OBS)[0])
    with pytest.raises(ValueError, match=r"load_agent: the weights in .*custom.pt' \(a Custom\) do not fit the "
                                         r"given LSTMActorCritic"):
        load_agent(path, policy=LSTMActorCritic(4, 2))

    later = torch.load(path, weights_only=True)
    later["version"] = 2
    save_checkpoint(later, tmp_path / "later.pt")
    with pytest.raises(ValueError, match=r"written in agent format version 2 \(by neuroai 0.1.0\); this neuroai "
                                         r"\(0.1.0\) reads versions up to 1: upgrade neuroai"):
        load_agent(tmp_path / "later.pt")
    save_checkpoint({**later, "format": "something.else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"is not an agent file \(format 'something.else'"):
        load_agent(tmp_path / "other.pt")

    with pytest.raises(ValueError, match=r"predict: parameter 'observation' must have shape \(4,\) \(one\) or "
                                         r"\(n, \*\(4,\)\) \(a batch\), got shape \(3,\)"):
        agent.predict(np.zeros(3))
    with pytest.raises(ValueError, match=r"predict: parameter 'episode_start' must be a bool or 16 bools"):
        agent.predict(OBS, state=(), episode_start=[1, 0])
    with pytest.raises(TypeError, match=r"Agent: parameter 'action_space' must be a gymnasium Discrete or Box space"):
        Agent(Custom(), "a2c", CARTPOLE.observation_space, gym.spaces.MultiBinary(3))
    with pytest.raises(TypeError, match=r"Agent: parameter 'policy' must be an ActorCritic or a module with act\(obs, "
                                        r"deterministic, generator\) \(QNetwork, SquashedGaussianActor\)"):
        Agent(torch.nn.Linear(4, 2), "a2c", CARTPOLE.observation_space, CARTPOLE.action_space)
