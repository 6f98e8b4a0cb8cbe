"""What every agent shares: training results, the solved criterion, greedy evaluation, and the
checkpoints from which a run resumes exactly (:func:`save_run`, :func:`load_run`)."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import validation as check
from ..backends import NonFiniteState
from ..training.checkpoint import load_checkpoint, save_checkpoint
from .agent import Agent
from .envs import close_if_made, env_factory, env_state, restore_env_state, to_checkpoint

#: Mean return over 100 consecutive episodes that counts as solved (gymnasium's reward thresholds).
SOLVED = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0}


def fractions(owner: str, config, names: tuple[str, ...]) -> None:
    """Check that each field ``names`` of ``config`` is a number in [0, 1] (discounts, lambdas, rates)."""
    for name in names:
        value = check.real(owner, name, getattr(config, name))
        if not 0 <= value <= 1:
            raise ValueError(f"{owner}: parameter '{name}' must be in [0, 1], got {value!r}")


def plain_fields(config) -> None:
    """Store the checked number fields of the frozen dataclass ``config`` as plain ``int``, ``float`` and
    ``bool`` (a NumPy scalar or a huge Python int as given would overflow in torch arithmetic, and
    would stamp checkpoints with other types)."""
    for f in dataclasses.fields(config):
        kind = {"int": int, "float": float, "bool": bool}.get(f.type if isinstance(f.type, str) else
                                                               getattr(f.type, "__name__", ""))
        if kind is not None:
            object.__setattr__(config, f.name, kind(getattr(config, f.name)))


def require_finite(owner: str, step: int, loss: torch.Tensor, module: torch.nn.Module) -> None:
    """Stop with :class:`~neuroai.NonFiniteState` once the loss or a parameter of ``module`` (after an
    optimizer step) is NaN or infinite: a diverged run, whose numbers would mean nothing."""
    bad = [] if bool(torch.isfinite(loss.detach()).all()) else ["the loss"]
    bad += [f"parameter {n}" for n, p in module.named_parameters() if not bool(torch.isfinite(p.detach()).all())]
    if bad:
        raise NonFiniteState(f"{owner}: training diverged: {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} "
                             f"became NaN or infinite at environment step {step}; lower 'learning_rate'")


def agent_policy(owner: str, policy, obs_size: int, actions: int, device, make, continuous: bool = False):
    """The policy to train: ``make()`` (a fresh default) when ``policy`` is None, else ``policy`` once it is
    shown to be an :class:`~neuroai.rl.policies.ActorCritic` taking observations of ``obs_size`` numbers and
    giving logits over ``actions`` actions, or, for ``continuous`` actions, a continuous policy giving the
    parameters of ``actions`` dimensions (one probing step, without gradients)."""
    from .policies import ActorCritic

    if policy is None:
        return make().to(device)
    if not isinstance(policy, ActorCritic):
        raise TypeError(f"{owner}: parameter 'policy' must be an ActorCritic (e.g. MLPActorCritic), "
                        f"got {type(policy).__name__}")
    if policy.continuous != continuous:
        raise ValueError(f"{owner}: parameter 'policy' must act in the environment's "
                         f"{'continuous' if continuous else 'discrete'} action space; a {type(policy).__name__} "
                         f"gives {'continuous' if policy.continuous else 'discrete'} actions"
                         f"{' (use GaussianActorCritic)' if continuous else ''}")
    policy = policy.to(device)
    try:
        with torch.no_grad():
            logits, values, _ = policy.sequence(torch.zeros(1, 1, obs_size, device=device),
                                                policy.initial_state(1, device), torch.ones(1, 1, device=device))
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{owner}: parameter 'policy' must take observations of {obs_size} numbers, as the "
                         f"environment gives; it failed on them: {check._reason(err)}") from err
    # (a continuous policy's head may carry more than the mean: its deterministic action is what must fit)
    given = tuple(policy.choose(logits[0], True).shape[1:]) if continuous else tuple(logits.shape[2:])
    if given != (actions,) or tuple(values.shape) != (1, 1):
        wanted = f"actions of {actions} dimensions" if continuous else \
            f"logits over the environment's {actions} actions"
        raise ValueError(f"{owner}: parameter 'policy' must give {wanted} and one value, got "
                         f"{'actions' if continuous else 'logits'} of shape {given} and values of shape "
                         f"{tuple(values.shape)[2:]}")
    return policy


@dataclass
class TrainResult:
    """A training run: ``episodes`` as ``(global_step, return)`` pairs in the order they ended, the
    trained ``model``, the wall time (s), environment steps taken, ``losses`` (step, value), and the
    trained ``agent`` (:class:`~neuroai.rl.Agent`: predict, save, load)."""
    episodes: list[tuple[int, float]]
    model: torch.nn.Module
    seconds: float
    steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    agent: Agent | None = None

    def returns(self) -> np.ndarray:
        """The episode returns in the order the episodes ended, (episodes,)."""
        return np.array([r for _, r in self.episodes])

    def steps_to_solve(self, threshold: float, window: int = 100) -> int | None:
        """The global step at which the mean return of the last ``window`` episodes first
        reached ``threshold`` (None if it never did)."""
        returns = self.returns()
        if len(returns) < window:
            return None
        means = np.convolve(returns, np.ones(window) / window, mode="valid")
        hit = np.flatnonzero(means >= threshold)
        return int(self.episodes[hit[0] + window - 1][0]) if hit.size else None


@torch.no_grad()
def evaluate(act: Callable[[torch.Tensor], torch.Tensor], env, episodes: int = 10, seed: int = 10_000,
             **env_options) -> np.ndarray:
    """Returns of ``episodes`` episodes of the policy ``act`` (a batch of observations ``(B, *obs)`` ->
    actions (B,), e.g. :class:`~neuroai.rl.policies.Greedy`), on one environment ``env`` (an id, a
    ``gymnasium.Env``, left open, or a function making one), seeds ``seed, seed + 1, ...``. If ``act`` has a
    ``reset()`` method (a recurrent policy's state), it is called at each episode's start."""
    episodes = check.integer("evaluate", "episodes", episodes, minimum=1)
    seed = check.seed("evaluate", seed)
    _callable("evaluate", act)
    made = env_factory(env, owner="evaluate", **env_options)()
    returns = [_episode("evaluate", made, act, seed + k)[0] for k in range(episodes)]
    close_if_made(env, made)
    return np.array(returns)


@torch.no_grad()
def frame_strip(act: Callable[[torch.Tensor], torch.Tensor], env, *, frames: int = 8, every: int = 25,
                seed: int = 10_000, **env_options) -> np.ndarray:
    """One episode of the policy ``act`` (seed ``seed``) as a strip of
    ``frames`` rendered frames, one every ``every`` steps from the first,
    side by side: an RGB image (height, frames * width, 3), uint8. An episode
    that ends sooner gives fewer frames. Needs gymnasium's classic-control
    renderer (pygame: ``pip install "neuroai[rl]"``)."""
    frames = check.integer("frame_strip", "frames", frames, minimum=1)
    every = check.integer("frame_strip", "every", every, minimum=1)
    seed = check.seed("frame_strip", seed)
    _callable("frame_strip", act)
    try:
        import pygame  # noqa: F401  (gymnasium's classic-control renderer)
    except ImportError as err:
        raise ImportError('frame_strip needs pygame to render classic-control environments: '
                          'pip install "neuroai[rl]"') from err
    made = env_factory(env, render=True, owner="frame_strip", **env_options)()
    _, shots = _episode("frame_strip", made, act, seed, shoot=lambda step: step % every == 0 and step // every < frames)
    close_if_made(env, made)
    return np.concatenate(shots, axis=1)


def _callable(owner: str, act) -> None:
    if not callable(act):
        raise TypeError(f"{owner}: parameter 'act' must be a function from observations (B, *obs) to actions (B,), "
                        f"e.g. Greedy(policy), got {type(act).__name__}")


def _action(owner: str, env, act, obs) -> int:
    """``act``'s action for the single observation ``obs``, or a ValueError saying why it gave none."""
    try:
        action = int(act(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0])
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        shape = (1, *np.shape(obs))
        raise ValueError(f"{owner}: parameter 'act' must map observations of shape {shape} to one action per row; "
                         f"it failed: {check._reason(err)}") from err
    if not env.action_space.contains(action):
        raise ValueError(f"{owner}: parameter 'act' must give actions of {env.action_space}, got {action}")
    return action


def _episode(owner: str, env, act, seed: int, shoot: Callable[[int], bool] | None = None
             ) -> tuple[float, list[np.ndarray]]:
    """Play one episode of ``act`` from ``env.reset(seed=seed)``; returns its return and the frames
    rendered at the steps where ``shoot(step)`` is true (step 0: the first observation)."""
    obs, _ = env.reset(seed=seed)
    if hasattr(act, "reset"):
        act.reset()
    total, done, step, shots = 0.0, False, 0, []
    while not done:
        if shoot is not None and shoot(step):
            shots.append(env.render())
        obs, reward, terminated, truncated, _ = env.step(_action(owner, env, act, obs))
        total += float(reward)
        done, step = terminated or truncated, step + 1
    return total, shots


def save_run(path: str | Path, owner: str, env_id: str, config, seed: int, envs, **state) -> None:
    """Write a training run's state atomically to ``path`` (a ``torch.save``
    file), stamped with what it belongs to: ``owner`` (the trainer), the
    environment, the config and the seed, with the whole state of the vector
    environment ``envs`` (:func:`~neuroai.rl.envs.env_state`) and torch's
    generators (the CPU's, and CUDA's once CUDA is in use). Each entry of
    ``state`` is stored as its ``state_dict()`` if it has one (networks,
    optimizers, buffers, :class:`~neuroai.rl.rollout.Cursor`), else as it
    is, through :func:`~neuroai.rl.envs.to_checkpoint` (NumPy arrays as
    tensors), so :func:`load_run` reads it back with
    ``torch.load(weights_only=True)``."""
    state = {k: v.state_dict() if hasattr(v, "state_dict") else v for k, v in state.items()}
    save_checkpoint({"owner": owner, "env_id": env_id, "config": dataclasses.asdict(config), "seed": seed,
                     "envs": env_state(envs, owner), "torch_rng": torch.get_rng_state(),
                     "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
                     **to_checkpoint(state, "state")}, path)


def checkpoint_path(owner: str, path, envs) -> Path | None:
    """``path`` (None: no checkpoints) checked before a run: a path whose folder can be written, for
    environments ``envs`` whose state :func:`~neuroai.rl.envs.env_state` can save."""
    if path is None:
        return None
    path = check.file_path(owner, "checkpoint", path)
    env_state(envs, owner)
    check.writable_folder(owner, "checkpoint", path.parent)   # (before the run, not at its first checkpoint)
    return path


def load_run(path: str | Path | None, owner: str, env_id: str, config, seed: int, envs, **objects) -> dict | None:
    """Resume a run from what :func:`save_run` wrote to ``path``: put the
    state of the vector environment ``envs`` (built as the run's were), of
    torch's generators and of each of ``objects`` (``name=object``: its
    ``load_state_dict`` gets the entry ``name``) back, and return the
    checkpoint, with ``"obs"`` the environments' current observations
    ``(num_envs, *obs_shape)``. None when there is no such file (a fresh
    run). A file written by another trainer, environment, config or seed is
    an error, not silently mixed in; so are, as soon as ``path`` is given,
    environments whose state :func:`~neuroai.rl.envs.env_state` cannot save
    (an error now rather than an inexact resume or a failed checkpoint)."""
    path = checkpoint_path(owner, path, envs)
    if path is None or not path.exists():
        return None
    state = load_checkpoint(path, owner=owner, name="checkpoint")
    found = (state.get("owner"), state.get("env_id"), state.get("config"), state.get("seed"))
    wanted = (owner, env_id, dataclasses.asdict(config), seed)
    if found != wanted:
        raise ValueError(f"{owner}: checkpoint {str(path)!r} belongs to another run ({found[0]} on {found[1]}, "
                         f"seed {found[3]}, config {found[2]}), not this one ({owner} on {env_id}, seed {seed}, "
                         f"config {wanted[2]}); delete it or give another path")
    state["obs"] = restore_env_state(envs, state["envs"], owner)
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for name, obj in objects.items():
        obj.load_state_dict(state[name])
    return state


def off_policy_start(saved: dict | None, rng: np.random.Generator, obs):
    """Where an off-policy run of one environment (DQN, SAC) starts, fresh (``saved`` None) or from the state
    :func:`load_run` returned: ``(episodes, losses, start, begin, obs)``, the logs so far, the
    ``time.perf_counter`` origin of its wall time, its first environment step and the observations there; the
    exploration generator ``rng`` is put back where the checkpoint left it."""
    episodes, losses, elapsed = run_log(saved)
    begin = 0
    if saved is not None:
        rng.bit_generator.state = saved["rng"]
        obs, begin = saved["obs"], int(saved["step"])
    return episodes, losses, time.perf_counter() - elapsed, begin, obs


def run_log(saved: dict | None) -> tuple[list[tuple[int, float]], list[tuple[int, float]], float]:
    """What a run's log continues from: the episodes and losses, lists of ``(step, value)``, and the
    wall time so far (s) of the state :func:`load_run` returned, or empty logs and 0 s for a fresh
    run (``saved`` None)."""
    if saved is None:
        return [], [], 0.0
    return list(map(tuple, saved["episodes"])), list(map(tuple, saved["losses"])), float(saved["seconds"])
