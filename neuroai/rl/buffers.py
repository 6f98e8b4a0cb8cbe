"""Experience replay (Lin 1992; Mnih et al. 2015)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import validation as check


@dataclass(frozen=True)
class Transitions:
    """A batch of transitions: ``obs`` and ``next_obs`` ``(B, *obs_shape)``, ``actions`` (B,) int64 (action
    indices) or ``(B, *action_shape)`` float32 (continuous actions), ``rewards`` and ``dones`` (B,) float32
    (``dones``: the episode terminated at ``next_obs``)."""
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    dones: torch.Tensor


class ReplayBuffer:
    """A circular buffer of the last ``capacity`` transitions, sampled uniformly with replacement.

    Storage is preallocated NumPy arrays (cheap to append to, one environment
    step at a time); :meth:`sample` draws indices from a generator seeded by
    ``seed`` and returns tensors on ``device``. :meth:`add` takes a batch of
    transitions (one per environment of a vector env). ``action_shape``: None for action indices (discrete
    actions), else the shape of one continuous action, stored as float32.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, action_shape: tuple[int, ...] | None = None,
                 device="cpu", seed: int = 0):
        owner = "ReplayBuffer"
        self.capacity = capacity = check.integer(owner, "capacity", capacity, minimum=1)
        obs_shape = _shape(owner, "obs_shape", obs_shape)
        action_shape = None if action_shape is None else _shape(owner, "action_shape", action_shape)
        self.device = check.torch_device(owner, device)
        # bytes of one transition (two float32 observations, the action, reward and done)
        self._row = 8 * math.prod(obs_shape) + 8 + (8 if action_shape is None else 4 * math.prod(action_shape))
        check.memory(owner, capacity * self._row, f"{capacity} transitions of observations {obs_shape}",
                     "lower 'capacity'")
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = (np.zeros(capacity, dtype=np.int64) if action_shape is None
                        else np.zeros((capacity, *action_shape), dtype=np.float32))
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)
        self.position, self.size = 0, 0
        self.rng = np.random.default_rng(check.seed("ReplayBuffer", seed))

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, dones) -> None:
        """Store a batch of ``n`` transitions (arrays with a leading dimension ``n``): observations
        ``(n, *obs_shape)``, actions (``(n,)`` whole numbers, or ``(n, *action_shape)``), rewards and dones
        ``(n,)``, all finite."""
        owner = "ReplayBuffer.add"
        try:
            n = 0 if isinstance(obs, (str, bytes)) else len(obs)
        except TypeError:
            n = 0
        if n == 0:
            raise ValueError(f"{owner}: parameter 'obs' must be an array of n >= 1 observations, got {obs!r}")
        obs = check.array(owner, "obs", obs, (n, *self.obs.shape[1:]))
        next_obs = check.array(owner, "next_obs", next_obs, obs.shape)
        if isinstance(dones, np.ndarray) and dones.dtype == bool:   # (terminated flags)
            dones = dones.astype(np.float32)
        rewards, dones = check.array(owner, "rewards", rewards, (n,)), check.array(owner, "dones", dones, (n,))
        actions = check.array(owner, "actions", actions, (n, *self.actions.shape[1:]))
        indices = self.actions.dtype == np.int64
        if indices and (np.any(actions != np.round(actions)) or np.any(np.abs(actions) > 2 ** 62)):
            raise ValueError(f"{owner}: parameter 'actions' must hold whole numbers (action indices), got {actions}")
        index = (self.position + np.arange(n)) % self.capacity if self.position + n > self.capacity \
            else slice(self.position, self.position + n)
        self.obs[index], self.next_obs[index] = obs, next_obs
        self.actions[index], self.rewards[index], self.dones[index] = actions, rewards, dones
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> Transitions:
        """``batch_size`` stored transitions drawn uniformly with replacement, as tensors on ``device``."""
        batch_size = check.integer("ReplayBuffer.sample", "batch_size", batch_size, minimum=0)
        check.memory("ReplayBuffer.sample", batch_size * self._row, f"a batch of {batch_size} transitions",
                     "lower 'batch_size'")
        if self.size == 0:
            raise RuntimeError("ReplayBuffer.sample: the buffer is empty")
        index = self.rng.integers(0, self.size, batch_size)

        def tensor(array):
            return torch.from_numpy(array[index]).to(self.device)
        return Transitions(tensor(self.obs), tensor(self.actions), tensor(self.rewards), tensor(self.next_obs),
                           tensor(self.dones))

    def state_dict(self) -> dict:
        """Copies of the stored arrays, the write position and size, and the sampling generator's state."""
        return {"obs": self.obs.copy(), "next_obs": self.next_obs.copy(), "actions": self.actions.copy(),
                "rewards": self.rewards.copy(), "dones": self.dones.copy(), "position": self.position,
                "size": self.size, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` in place (written into the preallocated arrays, so the capacity and
        observation shape must match)."""
        for name in ("obs", "next_obs", "actions", "rewards", "dones"):
            getattr(self, name)[...] = state[name]
        self.position, self.size = int(state["position"]), int(state["size"])
        self.rng.bit_generator.state = state["rng"]


def _shape(owner: str, name: str, shape) -> tuple[int, ...]:
    """``shape`` checked: a sequence of sizes >= 1, as a tuple."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"{owner}: parameter '{name}' must be a tuple of sizes such as (4,), got {shape!r}")
    return tuple(check.integer(owner, name, k, minimum=1) for k in shape)
