"""Environments from gymnasium (extra ``neuroai[rl]``), seeded, with episode statistics recorded."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def gym():
    """The gymnasium module, with an error naming the extra when it is missing."""
    try:
        import gymnasium
    except ImportError as err:
        raise ImportError('neuroai.rl needs gymnasium: pip install "neuroai[rl]"') from err
    return gymnasium


def masked_velocity(env):
    """CartPole with the velocities hidden (observations: cart position and pole angle only),
    so a memoryless policy cannot act well: the partially observable task of recurrent policies."""
    g = gym()

    class MaskVelocity(g.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
            self.observation_space = g.spaces.Box(low, high, dtype=np.float32)

        def observation(self, observation):
            return observation[[0, 2]].astype(np.float32)

    return MaskVelocity(env)


def env_factory(env_id: str, *, mask_velocity: bool = False, render: bool = False) -> Callable:
    """A function building one environment (episode statistics recorded), for vector envs."""
    g = gym()
    if env_id not in g.registry:
        raise ValueError(f"unknown environment {env_id!r}; classic control ones include "
                         f"['CartPole-v1', 'Acrobot-v1', 'MountainCar-v0', 'Pendulum-v1']")

    if mask_velocity and not env_id.startswith("CartPole"):
        raise ValueError(f"mask_velocity hides CartPole's velocities; environment {env_id!r} is not a CartPole")

    def make():
        env = g.make(env_id, render_mode="rgb_array" if render else None)
        if mask_velocity:
            env = masked_velocity(env)
        return g.wrappers.RecordEpisodeStatistics(env)

    return make


def vector_env(env_id: str, num_envs: int, seed: int, **options):
    """``num_envs`` copies in one ``SyncVectorEnv`` (auto-reset at the next step), reset with seeds
    ``seed, seed + 1, ...``; returns the env and its first observations ``(num_envs, *obs_shape)``."""
    g = gym()
    envs = g.vector.SyncVectorEnv([env_factory(env_id, **options) for _ in range(num_envs)],
                                  autoreset_mode=g.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs, obs


def require_discrete(owner: str, env) -> int:
    """The number of actions of a discrete action space, or a clear error."""
    space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(space, gym().spaces.Discrete):
        raise ValueError(f"{owner}: needs a discrete action space, got {space} (use an agent for continuous "
                         f"actions, or a discretized environment)")
    return int(space.n)


def finished_episodes(infos: dict) -> list[float]:
    """Returns of the episodes that ended at this step of a :func:`vector_env` (same-step autoreset:
    their statistics are in ``infos["final_info"]``, from RecordEpisodeStatistics)."""
    final = infos.get("final_info", {})
    if "episode" not in final:
        return []
    return [float(r) for r, done in zip(final["episode"]["r"], final["_episode"]) if done]
