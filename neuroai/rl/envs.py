"""Environments from gymnasium (extra ``neuroai[rl]``), seeded, with episode statistics recorded, and
the state of a vector of classic-control environments saved and restored exactly (:func:`env_state`)."""
from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from .. import validation as check


def gym():
    """The gymnasium module, with an error naming the extra when it is missing."""
    try:
        import gymnasium
    except ImportError as err:
        raise ImportError('neuroai.rl needs gymnasium: pip install "neuroai[rl]"') from err
    return gymnasium


@functools.cache
def _mask_velocity_wrapper() -> type:
    """The wrapper class of :func:`masked_velocity` (one class, so :func:`env_state` knows it)."""
    g = gym()

    class MaskVelocity(g.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
            self.observation_space = g.spaces.Box(low, high, dtype=np.float32)

        def observation(self, observation):
            return observation[[0, 2]].astype(np.float32)

    return MaskVelocity


def masked_velocity(env):
    """CartPole with the velocities hidden (observations: cart position and pole angle only),
    so a memoryless policy cannot act well: the partially observable task of recurrent policies."""
    return _mask_velocity_wrapper()(env)


def env_factory(env_id: str, *, mask_velocity: bool = False, render: bool = False,
                owner: str = "env_factory") -> Callable:
    """A function building one environment (episode statistics recorded), for vector envs. ``owner``
    (e.g. "train_dqn") names the caller in the errors: an ``env_id`` that is not a string (TypeError),
    not registered, or whose environment cannot be made here (a missing dependency...) (ValueError)."""
    g = gym()
    if not isinstance(env_id, str):
        raise TypeError(f"{owner}: parameter 'env_id' must be the name of a gymnasium environment such as "
                        f"'CartPole-v1', got {env_id!r}")
    if env_id not in g.registry:
        raise ValueError(f"{owner}: unknown environment {env_id!r}; classic control ones include "
                         f"['CartPole-v1', 'Acrobot-v1', 'MountainCar-v0', 'Pendulum-v1']")
    mask_velocity = check.flag(owner, "mask_velocity", mask_velocity)
    if mask_velocity and not env_id.startswith("CartPole"):
        raise ValueError(f"{owner}: mask_velocity hides CartPole's velocities; environment {env_id!r} is not a "
                         f"CartPole")

    def make():
        try:
            env = g.make(env_id, render_mode="rgb_array" if render else None)
        except Exception as err:  # gymnasium's errors, a missing dependency (Box2D, MuJoCo, jax...), ...
            raise ValueError(f"{owner}: environment {env_id!r} could not be created: "
                             f"{check._reason(err)}") from err
        if mask_velocity:
            env = masked_velocity(env)
        return g.wrappers.RecordEpisodeStatistics(env)

    return make


def vector_env(env_id: str, num_envs: int, seed: int, **options):
    """``num_envs`` copies in one ``SyncVectorEnv`` (auto-reset at the next step), reset with seeds
    ``seed, seed + 1, ...``; returns the env and its first observations ``(num_envs, *obs_shape)``.
    ``options`` go to :func:`env_factory`."""
    g = gym()
    make = env_factory(env_id, **options)
    envs = g.vector.SyncVectorEnv([make for _ in range(num_envs)],
                                  autoreset_mode=g.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs, obs


@functools.cache
def _resumable() -> dict[type, tuple[str, ...]]:
    """The classes whose state :func:`env_state` saves -> the attributes that hold it: every one that
    changes as the object runs and is read before it is written again (constants and scratch
    space, rewritten at every step, are left out)."""
    g = gym()
    from gymnasium.envs import classic_control as cc
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, RecordEpisodeStatistics, TimeLimit

    return {g.vector.SyncVectorEnv: ("_observations", "_autoreset_envs", "action_space.np_random"),
            RecordEpisodeStatistics: ("episode_count", "episode_start_time", "episode_returns", "episode_lengths",
                                      "time_queue", "return_queue", "length_queue"),
            _mask_velocity_wrapper(): (),
            TimeLimit: ("_elapsed_steps",),
            OrderEnforcing: ("_has_reset",),
            PassiveEnvChecker: ("checked_reset", "checked_step", "checked_render", "checked_data_reuse",
                                "_previous_data"),
            cc.CartPoleEnv: ("np_random", "state", "steps_beyond_terminated"),
            cc.AcrobotEnv: ("np_random", "state"),
            cc.MountainCarEnv: ("np_random", "state"),
            cc.Continuous_MountainCarEnv: ("np_random", "state"),
            cc.PendulumEnv: ("np_random", "state", "last_u")}


#: Attributes saved otherwise than as they are: name -> (get, set). The generators as their bit
#: generator's state (a dict of ints); the episode's start (a ``time.perf_counter`` reading, which
#: means nothing in another process) as the episode's age in seconds.
_ACCESSORS = {
    "np_random": (lambda obj: obj.np_random.bit_generator.state,
                  lambda obj, value: setattr(obj.np_random.bit_generator, "state", value)),
    "action_space.np_random": (lambda obj: obj.action_space.np_random.bit_generator.state,
                               lambda obj, value: setattr(obj.action_space.np_random.bit_generator, "state", value)),
    "episode_start_time": (lambda obj: time.perf_counter() - obj.episode_start_time,
                           lambda obj, age: setattr(obj, "episode_start_time", time.perf_counter() - age)),
}


def _layers(env) -> list:
    """The wrappers of ``env`` from the outermost in, then the environment itself."""
    layers = [env]
    while isinstance(layers[-1], gym().Wrapper):
        layers.append(layers[-1].env)
    return layers


def _names(objects) -> list[str]:
    """The class names of ``objects``."""
    return [type(obj).__name__ for obj in objects]


def _saved_layers(owner: str, envs) -> list[list]:
    """``[[vector env], [wrappers..., env] of each environment]``, or a ValueError naming what
    :func:`env_state` cannot save."""
    resumable = _resumable()
    if type(envs) not in resumable:
        raise ValueError(f"{owner}: cannot save the state of a {type(envs).__name__}: only a SyncVectorEnv "
                         f"(neuroai.rl.envs.vector_env) of classic-control environments can be resumed exactly")
    chains = [_layers(env) for env in envs.envs]
    for chain in chains:
        unknown = [type(layer).__name__ for layer in chain if type(layer) not in resumable]
        if unknown:
            raise ValueError(f"{owner}: cannot save the state of {' -> '.join(_names(chain))}: {unknown} "
                             f"unknown (an unknown environment's or wrapper's state cannot be captured, so a resumed "
                             f"run would silently differ); resumable: {sorted(cls.__name__ for cls in resumable)}")
    return [[envs], *chains]


def env_state(envs, owner: str = "env_state") -> dict:
    """The whole state of a :func:`vector_env` of classic-control environments (CartPole, Acrobot,
    MountainCar, MountainCarContinuous, Pendulum), in values that a checkpoint read with
    ``torch.load(weights_only=True)`` holds (see :func:`to_checkpoint`).

    Per environment: its physical ``state``, its generator (``np_random``), the step count of
    ``TimeLimit``, the episode statistics of ``RecordEpisodeStatistics`` (return and length so far,
    episodes ended, the last 100 returns, lengths and durations) and the flags of gymnasium's order
    and passive checkers; of the vector env: the current observations ``(num_envs, *obs_shape)``,
    the autoreset flags and the action space's generator. :func:`restore_env_state` puts it back,
    and the environments then step exactly as these would have. Only the episodes' wall-clock
    durations (``info["episode"]["t"]``) differ, as they do between any two runs.

    A vector env of another kind, an environment outside classic control or a wrapper not listed
    here is a ValueError (naming ``owner``): their state is not known, so a resume could not be exact.
    """
    return {"layers": [[(type(layer).__name__, {name: to_checkpoint(_get(layer, name), name)
                                                for name in _resumable()[type(layer)]}) for layer in chain]
                       for chain in _saved_layers(owner, envs)]}


def restore_env_state(envs, state: dict, owner: str = "restore_env_state") -> np.ndarray:
    """Put the :func:`env_state` ``state`` back into ``envs`` (built as the saved ones were: same
    environment, wrappers and number); returns the current observations ``(num_envs, *obs_shape)``,
    those the last ``step`` (or ``reset``) returned. Other environments are a ValueError naming ``owner``."""
    chains = _saved_layers(owner, envs)
    saved = [[name for name, _ in chain] for chain in state["layers"]]
    if saved != [_names(chain) for chain in chains]:
        raise ValueError(f"{owner}: the checkpoint holds the state of environments {saved}, not of these "
                         f"{[_names(chain) for chain in chains]} (another environment, wrapper or number of "
                         f"environments)")
    for chain, stored in zip(chains, state["layers"]):
        for layer, (_, values) in zip(chain, stored):
            for name, value in values.items():
                _set(layer, name, from_checkpoint(value))
    return envs._observations.copy()


def _get(obj, name: str):
    """The value of ``obj``'s attribute ``name`` as :func:`env_state` saves it."""
    return _ACCESSORS[name][0](obj) if name in _ACCESSORS else getattr(obj, name)


def _set(obj, name: str, value) -> None:
    """Set ``obj``'s attribute ``name`` from the value :func:`_get` gave (a deque refilled as a deque)."""
    if name in _ACCESSORS:
        _ACCESSORS[name][1](obj, value)
        return
    current = getattr(obj, name)
    setattr(obj, name, deque(value, maxlen=current.maxlen) if isinstance(current, deque) else value)


def to_checkpoint(value, where: str = "value"):
    """``value`` as a checkpoint read with ``torch.load(weights_only=True)`` holds it: NumPy arrays
    and scalars as tensors of their dtype (0-d for a scalar), deques as lists, dicts, lists and tuples
    element by element (a dict with nothing to convert stays as it is: a module's ``state_dict``
    keeps its metadata); tensors, None, bools, ints, floats and strings as they are. Anything else
    (an object that only unpickling code could rebuild) is a TypeError naming ``where``."""
    if isinstance(value, (np.ndarray, np.generic)):
        return torch.from_numpy(np.array(value))
    if isinstance(value, dict):
        items = {k: to_checkpoint(v, f"{where}[{k!r}]") for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, (list, tuple, deque)):
        items = [to_checkpoint(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if value is None or isinstance(value, (torch.Tensor, bool, int, float, str)):
        return value
    raise TypeError(f"to_checkpoint: {where} is a {type(value).__name__}, which a checkpoint read with "
                    f"torch.load(weights_only=True) cannot hold; expected tensors, NumPy arrays, numbers, strings, "
                    f"None and dicts, lists or tuples of them")


def from_checkpoint(value):
    """The inverse of :func:`to_checkpoint` on what it stored: tensors as NumPy arrays (0-d ones as
    NumPy scalars), containers element by element (a deque comes back as a list)."""
    if isinstance(value, torch.Tensor):
        array = value.numpy()
        return array[()] if array.ndim == 0 else array
    if isinstance(value, dict):
        return {k: from_checkpoint(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(from_checkpoint(v) for v in value)
    return value


def observation_size(owner: str, env) -> int:
    """The number of numbers in an observation of a Box observation space (vectors, images), or a
    clear error for other spaces (discrete states, tuples...), which the agents' networks cannot take."""
    space = getattr(env, "single_observation_space", env.observation_space)
    if not isinstance(space, gym().spaces.Box):
        raise ValueError(f"{owner}: needs observations that are arrays of numbers (a Box space), got {space} "
                         f"(wrap the environment, e.g. one-hot encode its discrete states)")
    return int(np.prod(space.shape))


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
