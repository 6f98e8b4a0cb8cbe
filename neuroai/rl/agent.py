"""A trained agent as gymnasium and Stable-Baselines3 users hold one: :meth:`Agent.predict` actions for
observations (a recurrent policy's state carried from call to call), :meth:`Agent.save` to a file and
:func:`load_agent` back.

The file is weights only: the policy's class name and constructor arguments, its ``state_dict``, the
environment's observation and action spaces as plain numbers and the format's version, written atomically
and read with ``torch.load(weights_only=True)``, so loading a file runs no code from it. A file written by a
later format is refused with the versions named, not misread.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from .. import validation as check
from ..training.checkpoint import load_checkpoint, save_checkpoint
from .envs import gym

#: What the file says it is, and the newest version of its layout that this neuroai reads and writes.
FORMAT, VERSION = "neuroai.rl.agent", 1


def _policies() -> dict[str, type]:
    """neuroai's policy classes that :func:`load_agent` rebuilds from their ``arguments``, by name."""
    from .dqn import QNetwork
    from .policies import (GaussianActorCritic, LSTMActorCritic, MLPActorCritic, SpikingActorCritic,
                           SpikingGaussianActorCritic)
    from .sac import SquashedGaussianActor

    return {cls.__name__: cls for cls in (MLPActorCritic, LSTMActorCritic, SpikingActorCritic, GaussianActorCritic,
                                          SpikingGaussianActorCritic, QNetwork, SquashedGaussianActor)}


class Agent:
    """A trained ``policy`` with the ``algorithm`` that trained it (e.g. "ppo") and the spaces of its
    environment (gymnasium spaces: a Box of observations; Discrete or Box actions). ``policy``: an
    :class:`~neuroai.rl.policies.ActorCritic` (actions from its head: logits, or a Gaussian's mean), or a
    module with ``act(obs, deterministic, generator)`` (:class:`~neuroai.rl.QNetwork`: the action of highest
    value; :class:`~neuroai.rl.SquashedGaussianActor`: SAC's)."""

    def __init__(self, policy: nn.Module, algorithm: str, observation_space, action_space):
        from .policies import ActorCritic

        if not isinstance(policy, nn.Module) or not (isinstance(policy, ActorCritic) or hasattr(policy, "act")):
            raise TypeError(f"Agent: parameter 'policy' must be an ActorCritic or a module with act(obs, "
                            f"deterministic, generator) (QNetwork, SquashedGaussianActor), got {type(policy).__name__}")
        self.policy = policy
        if not isinstance(algorithm, str) or not algorithm:
            raise TypeError(f"Agent: parameter 'algorithm' must be the name of the training algorithm such as 'ppo', "
                            f"got {algorithm!r}")
        self.algorithm = algorithm
        self.observation_space = _checked_space("observation_space", observation_space, gym().spaces.Box)
        self.action_space = _checked_space("action_space", action_space, (gym().spaces.Discrete, gym().spaces.Box))

    def __repr__(self) -> str:
        return (f"Agent({self.algorithm}, {type(self.policy).__name__}, observations {self.observation_space}, "
                f"actions {self.action_space})")

    @torch.no_grad()
    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True,
                generator: torch.Generator | None = None):
        """Actions for ``observation``: one observation (the observation space's shape) or a batch ``(n,
        *shape)``; returns ``(actions, state)`` as Stable-Baselines3's ``predict`` does: an action (a NumPy
        integer array of shape ``()`` for discrete actions, a float32 array of the action space's shape, within
        its bounds, for continuous ones) or ``n`` of them, and the policy's recurrent state after this step
        (None for a feed-forward policy), to pass back with the next observation.

        ``state``: what the previous call returned (None: fresh episodes). ``episode_start``: a bool, or
        ``(n,)`` bools, True where an episode begins (the state is reset there). ``deterministic``: the most
        probable action, or a Gaussian's mean (else one sampled from the policy, drawn with ``generator``; a
        Q-network's action is always its greedy one)."""
        deterministic = check.flag("predict", "deterministic", deterministic)
        obs, single = self._observations(observation)
        device = next(self.policy.parameters()).device
        obs = obs.to(device)
        n = len(obs)
        from .policies import ActorCritic

        if not isinstance(self.policy, ActorCritic):
            return self._actions(self.policy.act(obs, deterministic, generator), single), None
        starts = torch.ones(n, device=device) if state is None else self._starts(episode_start, n, device)
        if state is None:
            state = self.policy.initial_state(n, device)
        head, _, state = self.policy.sequence(obs[None], state, starts[None])
        return self._actions(self.policy.choose(head[0], deterministic, generator), single), state

    def _actions(self, actions: torch.Tensor, single: bool) -> np.ndarray:
        """The policy's actions as the action space's, in NumPy (indices shifted by the space's start;
        continuous actions clipped to its bounds), without the batch dimension for a single observation."""
        actions = actions.cpu().numpy()
        if isinstance(self.action_space, gym().spaces.Discrete):
            actions = actions + self.action_space.start
        else:
            actions = np.clip(actions.reshape(len(actions), *self.action_space.shape), self.action_space.low,
                              self.action_space.high).astype(self.action_space.dtype)
        return np.asarray(actions[0]) if single else actions

    def _observations(self, observation) -> tuple[torch.Tensor, bool]:
        """``observation`` as a float32 batch ``(n, *shape)``, and whether it was a single one."""
        shape = tuple(self.observation_space.shape)
        try:
            obs = torch.as_tensor(np.asarray(observation, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise TypeError(f"predict: parameter 'observation' must be an array of numbers of shape {shape} or "
                            f"(n, *{shape}), got {type(observation).__name__} ({check._reason(err)})") from err
        if tuple(obs.shape) == shape:
            return obs.unsqueeze(0), True
        if obs.ndim == len(shape) + 1 and tuple(obs.shape[1:]) == shape and len(obs):
            return obs, False
        raise ValueError(f"predict: parameter 'observation' must have shape {shape} (one) or (n, *{shape}) (a "
                         f"batch), got shape {tuple(obs.shape)}")

    @staticmethod
    def _starts(episode_start, n: int, device) -> torch.Tensor:
        """``episode_start`` (None: no episode begins) as ``(n,)`` floats, 1 where an episode begins."""
        if episode_start is None:
            return torch.zeros(n, device=device)
        starts = np.asarray(episode_start)
        if starts.dtype != bool or starts.shape not in ((), (n,)):
            raise ValueError(f"predict: parameter 'episode_start' must be a bool or {n} bools, one per "
                             f"observation, got {episode_start!r}")
        return torch.as_tensor(np.broadcast_to(starts, (n,)).astype(np.float32), device=device)

    def save(self, path: str | Path) -> Path:
        """Write the agent to ``path`` atomically (weights only: see the module docstring); returns the path."""
        name = type(self.policy).__name__
        arguments = getattr(self.policy, "arguments", None)
        return save_checkpoint({"format": FORMAT, "version": VERSION, "neuroai": __version__,
                                "algorithm": self.algorithm, "policy": name, "arguments": arguments,
                                "weights": {k: v.detach().cpu() for k, v in self.policy.state_dict().items()},
                                "observation_space": _space_record(self.observation_space),
                                "action_space": _space_record(self.action_space)}, path)


def load_agent(path: str | Path, policy: nn.Module | None = None, device="cpu") -> Agent:
    """The :class:`Agent` that :meth:`Agent.save` wrote to ``path``, its policy on ``device``.

    neuroai's own policies are rebuilt from the file; a policy of another class needs ``policy``, a module
    built as the saved one was, into which the weights are loaded. A file that is not an agent, was written
    by a later format, or whose weights do not fit ``policy`` is a ValueError naming the file."""
    device = check.torch_device("load_agent", device)
    state = load_checkpoint(path, ("format", "version", "policy", "weights", "algorithm", "observation_space",
                                   "action_space"), owner="load_agent", name="path")
    if state["format"] != FORMAT:
        raise ValueError(f"load_agent: {str(path)!r} is not an agent file (format {state['format']!r}, expected "
                         f"{FORMAT!r})")
    if not isinstance(state["version"], int) or state["version"] > VERSION:
        raise ValueError(f"load_agent: {str(path)!r} was written in agent format version {state['version']} (by "
                         f"neuroai {state.get('neuroai')}); this neuroai ({__version__}) reads versions up to "
                         f"{VERSION}: upgrade neuroai")
    if policy is None:
        cls = _policies().get(state["policy"])
        if cls is None or state.get("arguments") is None:
            raise ValueError(f"load_agent: {str(path)!r} holds a {state['policy']}, which neuroai cannot rebuild; "
                             f"pass policy=, a {state['policy']} built as the saved one was, to load its weights")
        policy = cls(**state["arguments"])
    elif not isinstance(policy, nn.Module):
        raise TypeError(f"load_agent: parameter 'policy' must be a torch module built as the saved "
                        f"{state['policy']} was, got {type(policy).__name__}")
    try:
        policy.load_state_dict(state["weights"])
    except RuntimeError as err:
        raise ValueError(f"load_agent: the weights in {str(path)!r} (a {state['policy']}) do not fit the given "
                         f"{type(policy).__name__}: {check._reason(err)}") from err
    return Agent(policy.to(device).eval(), state["algorithm"], _space(state["observation_space"]),
                 _space(state["action_space"]))


def _checked_space(name: str, space, kinds):
    if not isinstance(space, kinds):
        names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise TypeError(f"Agent: parameter '{name}' must be a gymnasium {names} space, got {space!r}")
    return space


def _space_record(space) -> dict:
    """A gymnasium Box or Discrete space as plain numbers and tensors."""
    if isinstance(space, gym().spaces.Discrete):
        return {"kind": "discrete", "n": int(space.n), "start": int(space.start)}
    return {"kind": "box", "low": torch.from_numpy(np.array(space.low)), "high": torch.from_numpy(np.array(space.high)),
            "dtype": str(space.dtype)}


def _space(record: dict):
    """The gymnasium space that :func:`_space_record` wrote down."""
    spaces = gym().spaces
    if record.get("kind") == "discrete":
        return spaces.Discrete(record["n"], start=record["start"])
    return spaces.Box(record["low"].numpy(), record["high"].numpy(), dtype=np.dtype(record["dtype"]))
