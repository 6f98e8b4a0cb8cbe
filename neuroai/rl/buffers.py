"""Experience replay (Lin 1992; Mnih et al. 2015)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import validation as check


@dataclass(frozen=True)
class Transitions:
    """A batch of transitions: ``obs`` and ``next_obs`` (B, *obs_shape), ``actions`` (B,) int64,
    ``rewards`` and ``dones`` (B,) float32 (``dones``: the episode terminated at ``next_obs``)."""
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    dones: torch.Tensor


class ReplayBuffer:
    """A circular buffer of the last ``capacity`` transitions, sampled uniformly with replacement.

    Storage is preallocated tensors on ``device``; :meth:`add` takes a batch
    of transitions (one per environment of a vector env) and :meth:`sample`
    draws indices from a generator seeded by ``seed``.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, device="cpu", seed: int = 0):
        self.capacity = check.integer("ReplayBuffer", "capacity", capacity, minimum=1)
        self.device = torch.device(device)
        self.obs = torch.zeros((capacity, *obs_shape), dtype=torch.float32, device=self.device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(capacity, dtype=torch.long, device=self.device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.dones = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.position, self.size = 0, 0
        self.generator = torch.Generator().manual_seed(check.seed("ReplayBuffer", seed))

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, dones) -> None:
        """Store a batch of ``n`` transitions (arrays or tensors with a leading dimension ``n``)."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        n = len(obs)
        index = (self.position + torch.arange(n, device=self.device)) % self.capacity
        self.obs[index] = obs
        self.next_obs[index] = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32, device=self.device)
        self.actions[index] = torch.as_tensor(np.asarray(actions), dtype=torch.long, device=self.device)
        self.rewards[index] = torch.as_tensor(np.asarray(rewards), dtype=torch.float32, device=self.device)
        self.dones[index] = torch.as_tensor(np.asarray(dones), dtype=torch.float32, device=self.device)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> Transitions:
        """``batch_size`` stored transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise RuntimeError("ReplayBuffer.sample: the buffer is empty")
        index = torch.randint(0, self.size, (batch_size,), generator=self.generator).to(self.device)
        return Transitions(self.obs[index], self.actions[index], self.rewards[index], self.next_obs[index],
                           self.dones[index])

    def state_dict(self) -> dict:
        return {"obs": self.obs, "next_obs": self.next_obs, "actions": self.actions, "rewards": self.rewards,
                "dones": self.dones, "position": self.position, "size": self.size,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        for name in ("obs", "next_obs", "actions", "rewards", "dones"):
            getattr(self, name).copy_(state[name])
        self.position, self.size = int(state["position"]), int(state["size"])
        self.generator.set_state(state["generator"])
