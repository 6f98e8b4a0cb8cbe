"""The agents take environments as gymnasium users hold them: an id, a gymnasium.Env, a function making one, or a
vector environment; each gives the run the id gives, and anything else is refused where it enters."""
import gymnasium as gym
import numpy as np
import pytest

from neuroai.rl import (DQNConfig, PPOConfig, ReinforceConfig, evaluate, train_dqn, train_ppo, train_reinforce)
from neuroai.rl.envs import env_name

pytestmark = pytest.mark.usefixtures("one_thread")

PPO = PPOConfig(total_timesteps=256, num_envs=2, num_steps=64, num_minibatches=2, update_epochs=1)


def same_step_vector(n: int):
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


@pytest.mark.parametrize("given", ["env", "factory", "vector"])
def test_ppo_trains_on_an_environment_as_held_as_on_its_id(given):
    """Seeded alike, a gym.make object (copied from its spec for the second environment), a factory and a
    same-step vector env give the id's episodes and weights."""
    env = {"env": lambda: gym.make("CartPole-v1"), "factory": lambda: (lambda: gym.make("CartPole-v1")),
           "vector": lambda: same_step_vector(2)}[given]()
    reference = train_ppo("CartPole-v1", PPO, seed=3, progress=False)
    result = train_ppo(env, PPO, seed=3, progress=False)
    assert len(reference.episodes) > 5
    assert result.episodes == reference.episodes
    for a, b in zip(result.model.parameters(), reference.model.parameters()):
        assert a.equal(b)


def test_dqn_reinforce_and_evaluate_take_a_gym_make_object_and_leave_it_open():
    env = gym.make("CartPole-v1")
    dqn = train_dqn(env, DQNConfig(total_timesteps=300, learning_starts=100), seed=1, progress=False)
    assert dqn.episodes == train_dqn("CartPole-v1", DQNConfig(total_timesteps=300, learning_starts=100), seed=1,
                                     progress=False).episodes
    reinforce = train_reinforce(env, ReinforceConfig(total_timesteps=100), seed=1, progress=False)
    assert reinforce.steps >= 100

    def act(obs):
        return (obs[:, 2] > 0).long()   # push the cart the way the pole leans

    returns = evaluate(act, env, episodes=3)
    np.testing.assert_array_equal(returns, evaluate(act, "CartPole-v1", episodes=3))
    env.reset(seed=0)   # (still open: the user's to go on using)
    assert env_name(env) == "CartPole-v1"


def test_environments_of_other_kinds_are_refused_where_they_enter():
    with pytest.raises(TypeError, match=r"train_ppo: parameter 'env' must be the id of a registered gymnasium "
                                        r"environment .* a gymnasium.Env, a function that makes one, or a "
                                        r"gymnasium vector environment; got 42"):
        train_ppo(42, PPO, progress=False)
    with pytest.raises(TypeError, match=r"train_ppo: parameter 'env' must make a gymnasium.Env, but the function "
                                        r"gave 'CartPole-v1'"):
        train_ppo(lambda: "CartPole-v1", PPO, progress=False)
    with pytest.raises(ValueError, match=r"train_ppo: the vector environment holds 3 environments but the config "
                                         r"asks for num_envs=2"):
        train_ppo(same_step_vector(3), PPO, progress=False)
    next_step = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    with pytest.raises(ValueError, match=r"train_ppo: the vector environment must reset an environment in the step "
                                         r"its episode ends .*SAME_STEP.* got autoreset_mode .*NEXT_STEP"):
        train_ppo(next_step, PPO, progress=False)
    with pytest.raises(ValueError, match=r"evaluate: needs one environment, got a vector environment of 2"):
        evaluate(lambda obs: obs[:, 0].long() * 0, same_step_vector(2))
    with pytest.raises(ValueError, match=r"train_ppo: mask_velocity hides CartPole's velocities; environment "
                                         r"'Acrobot-v1' is not a CartPole"):
        train_ppo(gym.make("Acrobot-v1"), PPO, mask_velocity=True, progress=False)


def test_an_environment_without_a_spec_gives_one_copy_only():
    """Further environments are copies made from the spec; one made by hand has none: a clear error, not a
    silently shared environment."""
    from gymnasium.envs.classic_control import CartPoleEnv

    with pytest.raises(ValueError, match=r"train_ppo: environment 'CartPoleEnv' could not be created: a "
                                         r"CartPoleEnv without a spec cannot be copied; give a function"):
        train_ppo(CartPoleEnv(), PPO, progress=False)
    assert train_dqn(CartPoleEnv(), DQNConfig(total_timesteps=50), progress=False).steps == 50
