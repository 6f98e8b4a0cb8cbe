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


#: What the agents take as ``env``, for the errors that refuse anything else.
ENV_KINDS = ("the id of a registered gymnasium environment such as 'CartPole-v1', a gymnasium.Env, a function "
             "that makes one, or a gymnasium vector environment")


def env_factory(env, *, mask_velocity: bool = False, render: bool = False, owner: str = "env_factory") -> Callable:
    """A function building one environment from ``env``, with its episode statistics recorded (gymnasium's
    ``RecordEpisodeStatistics``, unless it has them already), for vector envs and evaluation.

    ``env``: the id of a registered environment (each call makes a new one); a ``gymnasium.Env`` (the first
    call gives the environment itself, later ones copies made from its spec, ``gym.make(env.spec)``, which
    holds the wrappers that record their arguments); or a function returning a ``gymnasium.Env``. ``owner``
    (e.g. "train_dqn") names the caller in the errors: an ``env`` of another kind (TypeError), an id not
    registered, an environment that cannot be made here (a missing dependency...), or, with ``render``, one
    that does not render RGB arrays (ValueError). ``mask_velocity`` (CartPole only) hides its velocities."""
    g = gym()
    mask_velocity = check.flag(owner, "mask_velocity", mask_velocity)
    if isinstance(env, g.vector.VectorEnv):
        raise ValueError(f"{owner}: needs one environment, got a vector environment of {env.num_envs}; give its "
                         f"id, a gymnasium.Env or a function that makes one")
    if isinstance(env, str):
        if env not in g.registry:
            raise ValueError(f"{owner}: unknown environment {env!r}; classic control ones include "
                             f"['CartPole-v1', 'Acrobot-v1', 'MountainCar-v0', 'Pendulum-v1']")
        if mask_velocity and not env.startswith("CartPole"):
            raise ValueError(f"{owner}: mask_velocity hides CartPole's velocities; environment {env!r} is not a "
                             f"CartPole")
        source = functools.partial(g.make, env, render_mode="rgb_array" if render else None)
    elif isinstance(env, g.Env):
        source = _copies(env)
    elif callable(env):
        source = env
    else:
        raise TypeError(f"{owner}: parameter 'env' must be {ENV_KINDS}; got {_shown(env)}")

    def make():
        try:
            made = source()
        except Exception as err:  # gymnasium's errors, a missing dependency (Box2D, MuJoCo, jax...), ...
            raise ValueError(f"{owner}: environment {env_name(env)!r} could not be created: "
                             f"{check._reason(err)}") from err
        if not isinstance(made, g.Env):
            raise TypeError(f"{owner}: parameter 'env' must make a gymnasium.Env, but the function gave "
                            f"{_shown(made)}")
        if mask_velocity:
            if not isinstance(made.unwrapped, _cartpole()):
                raise ValueError(f"{owner}: mask_velocity hides CartPole's velocities; environment "
                                 f"{env_name(made)!r} is not a CartPole")
            made = masked_velocity(made)
        if render and made.render_mode != "rgb_array":
            raise ValueError(f"{owner}: rendering needs an environment made with render_mode='rgb_array', got "
                             f"render_mode={made.render_mode!r}")
        return made if _records_episodes(made) else g.wrappers.RecordEpisodeStatistics(made)

    return make


def _copies(env) -> Callable:
    """A function giving ``env`` itself at its first call and copies made from its spec after."""
    given = [env]

    def make():
        if given:
            return given.pop()
        if env.spec is None:
            raise ValueError(f"a {type(env).__name__} without a spec cannot be copied; give a function that "
                             f"makes one environment, or a vector environment")
        return gym().make(env.spec)

    return make


def _records_episodes(env) -> bool:
    """Whether ``env`` or one of its wrappers records episode statistics."""
    return any(isinstance(layer, gym().wrappers.RecordEpisodeStatistics) for layer in _layers(env))


def _cartpole() -> type:
    from gymnasium.envs.classic_control import CartPoleEnv
    return CartPoleEnv


def _shown(value) -> str:
    """``value`` for an error message: short."""
    text = repr(value)
    return text if len(text) <= 80 else f"a {type(value).__name__}"


def close_if_made(given, made) -> None:
    """Close the environment (or vector env) ``made`` from ``given`` unless the user gave it as an object
    (a ``gymnasium.Env`` or vector env, theirs to go on using)."""
    g = gym()
    if not isinstance(given, (g.Env, g.vector.VectorEnv)):
        made.close()


def env_name(env) -> str:
    """The name under which ``env`` (an id, an environment, a vector of them or a function making one) is
    shown and stamped in checkpoints: its registered id where it has one, else its class's or function's name."""
    if isinstance(env, str):
        return env
    g = gym()
    if isinstance(env, g.vector.VectorEnv):
        subs = getattr(env.unwrapped, "envs", None)
        return env_name(subs[0]) if subs else (env.spec.id if env.spec is not None else type(env.unwrapped).__name__)
    if isinstance(env, g.Env):
        return env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    return getattr(env, "__name__", type(env).__name__)


def vector_env(env, num_envs: int, seed: int, *, owner: str = "vector_env", **options):
    """``num_envs`` environments in one vector env that autoresets in the step an episode ends
    (``AutoresetMode.SAME_STEP``), reset with seeds ``seed, seed + 1, ...``; returns the vector env and its
    first observations ``(num_envs, *obs_shape)``.

    ``env``: what :func:`env_factory` takes (``options`` go to it), the copies in a ``SyncVectorEnv``; or a
    gymnasium vector environment of ``num_envs`` that autoresets in the same step, used as it is (its episode
    statistics recorded by gymnasium's vector ``RecordEpisodeStatistics`` unless its environments record them).
    Anything else is an error naming ``owner``."""
    g = gym()
    if isinstance(env, g.vector.VectorEnv):
        envs = _given_vector_env(owner, env, num_envs, **options)
    else:
        make = env_factory(env, owner=owner, **options)
        envs = g.vector.SyncVectorEnv([make for _ in range(num_envs)],
                                      autoreset_mode=g.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs, obs


def _given_vector_env(owner: str, envs, num_envs: int, mask_velocity: bool = False, render: bool = False):
    """A user's vector env checked: ``num_envs`` environments, same-step autoreset; episode statistics recorded."""
    g = gym()
    if check.flag(owner, "mask_velocity", mask_velocity):
        raise ValueError(f"{owner}: mask_velocity wraps the environments neuroai makes; for a vector environment, "
                         f"wrap its environments yourself (neuroai.rl.envs.masked_velocity)")
    if envs.num_envs != num_envs:
        raise ValueError(f"{owner}: the vector environment holds {envs.num_envs} environments but the config asks "
                         f"for num_envs={num_envs}; make them agree")
    mode = envs.metadata.get("autoreset_mode")
    if mode != g.vector.AutoresetMode.SAME_STEP:
        raise ValueError(f"{owner}: the vector environment must reset an environment in the step its episode ends "
                         f"(autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP, where the last observation is "
                         f"in info['final_obs']), got autoreset_mode {mode}")
    subs = getattr(envs.unwrapped, "envs", None)
    if subs and all(_records_episodes(sub) for sub in subs):
        return envs
    return g.wrappers.vector.RecordEpisodeStatistics(envs)


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


def action_size(owner: str, env) -> tuple[int, bool]:
    """``(size, continuous)`` of the action space: the number of actions of a Discrete space, or the dimension
    of a one-dimensional Box of continuous actions; other spaces are a clear error."""
    space = getattr(env, "single_action_space", env.action_space)
    if isinstance(space, gym().spaces.Discrete):
        return int(space.n), False
    if isinstance(space, gym().spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0]), True
    raise ValueError(f"{owner}: needs discrete actions or a vector of continuous ones (a Discrete or a "
                     f"one-dimensional Box action space), got {space}")


def require_box(owner: str, env):
    """The action space of continuous actions (a bounded Box), or a clear error."""
    space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(space, gym().spaces.Box):
        raise ValueError(f"{owner}: needs continuous actions (a Box action space), got {space} (use an agent for "
                         f"discrete actions, e.g. train_dqn or train_ppo)")
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ValueError(f"{owner}: needs bounded actions, got the action space {space} (wrap the environment "
                         f"to rescale its actions to finite bounds)")
    return space


def true_next_observations(next_obs: np.ndarray, infos: dict) -> np.ndarray:
    """The observations a step led to, ``(N, *obs)``: ``next_obs`` with each ended episode's last observation in
    place of the next episode's first (same-step autoreset puts it in ``infos["final_obs"]``), for replay."""
    real = next_obs.copy()
    if "_final_obs" in infos:
        real[infos["_final_obs"]] = np.stack(infos["final_obs"][infos["_final_obs"]])
    return real


def finished_episodes(infos: dict) -> list[float]:
    """Returns of the episodes that ended at this step of a :func:`vector_env` (same-step autoreset:
    their statistics are in ``infos["final_info"]``, from each environment's RecordEpisodeStatistics, or
    in ``infos`` itself, from the vector env's)."""
    final = infos.get("final_info", {})
    source = final if "episode" in final else infos
    if "episode" not in source:
        return []
    return [float(r) for r, done in zip(source["episode"]["r"], source["_episode"]) if done]
