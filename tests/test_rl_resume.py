"""Long runs lose nothing: a DQN, PPO or A2C run killed by SIGKILL (in a subprocess,
tests/rl_resume_worker.py) and resumed from its checkpoint ends bit for bit as the uninterrupted run,
and the environments' whole state survives a checkpoint."""
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuroai.rl import A2CConfig, DQNConfig, LSTMActorCritic, PPOConfig, train_a2c, train_dqn, train_ppo
from neuroai.rl.envs import env_state, gym, restore_env_state, vector_env

pytestmark = pytest.mark.usefixtures("one_thread")


def dqn(checkpoint):
    """600 steps of CartPole, learning from step 100, a checkpoint every 200 steps."""
    config = DQNConfig(total_timesteps=600, learning_starts=100, buffer_size=1000, target_update=50, batch_size=32,
                       train_frequency=4, exploration_fraction=0.2, hidden=(16,))
    return train_dqn("CartPole-v1", config, seed=3, progress=False, checkpoint=checkpoint, checkpoint_every=200)


def ppo(checkpoint):
    """A recurrent policy (its state carried from one rollout to the next) on CartPole with the velocities
    hidden: 4 updates of 4 x 32 steps, a checkpoint after each."""
    torch.manual_seed(0)
    config = PPOConfig(total_timesteps=512, num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2)
    return train_ppo("CartPole-v1", config, policy=LSTMActorCritic(2, 2, hidden=8), mask_velocity=True, seed=1,
                     progress=False, checkpoint=checkpoint)


def a2c(checkpoint):
    """15 updates of 4 x 10 CartPole steps, a checkpoint after the updates reaching 120, 240, ... steps."""
    config = A2CConfig(total_timesteps=600, num_envs=4, num_steps=10)
    return train_a2c("CartPole-v1", config, seed=2, progress=False, checkpoint=checkpoint, checkpoint_every=120)


#: trainer -> (its run, the checkpoint after which the worker dies, the vector-env steps it takes after that
#: checkpoint before dying (fewer than to the next one), where the run stands in that checkpoint)
RUNS = {"dqn": (dqn, 2, 37, {"step": 400}),
        "ppo": (ppo, 2, 9, {"update": 2}),
        "a2c": (a2c, 2, 13, {"update": 6})}

#: Checkpoint entries that are wall-clock readings, which no two runs share.
WALL_CLOCK = {"seconds", "episode_start_time", "time_queue"}


def assert_identical(a, b, where="checkpoint"):
    """``a`` and ``b`` (checkpoints) are equal bit for bit, every tensor, number and container, but for
    the wall-clock readings."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a.keys() - WALL_CLOCK:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("trainer", sorted(RUNS))
def test_a_run_killed_by_sigkill_resumes_bit_for_bit(trainer, tmp_path):
    run, _, _, stands = RUNS[trainer]
    here = pathlib.Path(__file__).parent
    path, whole = tmp_path / "killed.pt", tmp_path / "whole.pt"
    worker = subprocess.Popen([sys.executable, str(here / "rl_resume_worker.py"), trainer, str(path)], cwd=here,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    uninterrupted = run(whole)  # meanwhile
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == -signal.SIGKILL, stderr[-3000:]
    killed = torch.load(path, weights_only=True)
    assert {key: killed[key] for key in stands} == stands
    chains = [dict(chain) for chain in killed["envs"]["layers"][1:]]
    # every environment was mid-episode: a resume into fresh episodes would differ
    assert all(chain["TimeLimit"]["_elapsed_steps"] > 0 for chain in chains)
    resumed = run(path)
    assert_identical(torch.load(path, weights_only=True), torch.load(whole, weights_only=True))
    assert resumed.episodes == uninterrupted.episodes and len(resumed.episodes) > 10
    assert resumed.losses == uninterrupted.losses and resumed.steps == uninterrupted.steps
    for a, b in zip(resumed.model.state_dict().values(), uninterrupted.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
                                    "Pendulum-v1"])
def test_the_state_of_classic_control_environments_survives_a_checkpoint(env_id, tmp_path):
    envs, _ = vector_env(env_id, 3, seed=5)
    for _ in range(40):
        obs, *_ = envs.step(envs.action_space.sample())
    torch.save(env_state(envs), tmp_path / "envs.pt")
    actions = [envs.action_space.sample() for _ in range(250)]
    ahead = [envs.step(a) for a in actions]
    fresh, _ = vector_env(env_id, 3, seed=99)
    assert np.array_equal(restore_env_state(fresh, torch.load(tmp_path / "envs.pt", weights_only=True)), obs)
    assert all(np.array_equal(a, fresh.action_space.sample()) for a in actions)  # the action space's generator
    again = [fresh.step(a) for a in actions]
    for (o, r, term, trunc, info), (o2, r2, term2, trunc2, info2) in zip(ahead, again):
        assert all(np.array_equal(x, y) for x, y in ((o, o2), (r, r2), (term, term2), (trunc, trunc2)))
        assert ("final_info" in info) == ("final_info" in info2)
        if "final_info" in info:   # the episode statistics carried on: returns and lengths of whole episodes
            assert all(np.array_equal(info["final_info"]["episode"][k], info2["final_info"]["episode"][k])
                       for k in ("r", "l"))
    assert [(e.episode_count, list(e.return_queue)) for e in envs.envs] == \
        [(e.episode_count, list(e.return_queue)) for e in fresh.envs]


def test_an_environment_whose_state_is_unknown_is_refused_before_training(tmp_path):
    g = gym()
    envs = g.vector.SyncVectorEnv([lambda: g.wrappers.ClipReward(g.make("CartPole-v1"), -1, 1)])
    with pytest.raises(ValueError, match=r"env_state: cannot save the state of ClipReward -> .*\['ClipReward'\]"):
        env_state(envs)
    path = tmp_path / "lake.pt"
    with pytest.raises(ValueError, match=r"train_dqn: cannot save the state of .*FrozenLakeEnv"):
        train_dqn("FrozenLake-v1", DQNConfig(total_timesteps=10), progress=False, checkpoint=path)
    assert not path.exists()


def test_a_checkpoint_of_another_run_or_of_other_environments_is_refused(tmp_path):
    path, config = tmp_path / "a2c.pt", A2CConfig(total_timesteps=40, num_envs=4, num_steps=10)
    train_a2c("CartPole-v1", config, seed=0, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="train_a2c: checkpoint .* belongs to another run"):
        train_a2c("CartPole-v1", config, seed=1, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match=r"train_a2c: the checkpoint holds the state of environments .*"
                                         r"'TimeLimit'.*, not of these .*'MaskVelocity'"):
        train_a2c("CartPole-v1", config, seed=0, progress=False, checkpoint=path, mask_velocity=True)
