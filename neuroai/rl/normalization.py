"""Observations normalized by running statistics kept in the policy (so that they are saved, loaded and
checkpointed with its weights, and frozen wherever the policy only acts)."""
from __future__ import annotations

import torch
from torch import nn

from .. import validation as check


class RunningNormalizer(nn.Module):
    """``clamp((x - mean) / sqrt(var + eps), -clip, clip)`` with the mean and variance of every observation
    it was shown by :meth:`update` (Chan et al.'s parallel update of the moments, in float64, from a prior
    count of ``eps``, as Stable-Baselines3's ``VecNormalize``). Only :meth:`update` changes the statistics;
    a trainer calls it between updates of the networks, so an update sees the statistics its rollout was
    collected with, and an agent that only acts never changes them.

    ``shape``: of one observation; ``clip``: bound of the normalized values (default 10); ``eps``: 1e-8."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.shape = tuple(check.integer("RunningNormalizer", "shape", k, minimum=1) for k in shape)
        self.clip = check.real("RunningNormalizer", "clip", clip, positive=True)
        self.eps = check.real("RunningNormalizer", "eps", eps, positive=True)
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(self.shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(self.eps, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold the observations ``x``, ``(..., *shape)``, into the statistics."""
        batch = x.detach().reshape(-1, *self.shape).to(torch.float64)
        n = batch.shape[0]
        if n == 0:
            return
        mean, var = batch.mean(0), batch.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.var.copy_((self.var * self.count + var * n + delta.square() * (self.count * n / total)) / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``, ``(..., *shape)``, normalized, in ``x``'s dtype."""
        scale = (self.var + self.eps).sqrt().to(x.dtype)
        return ((x - self.mean.to(x.dtype)) / scale).clamp(-self.clip, self.clip)


class RewardScaler:
    """Rewards divided by the running standard deviation of each environment's discounted return, ``R <- gamma
    R + r`` (zeroed where an episode ends), clipped to ``[-clip, clip]``: Stable-Baselines3's
    ``VecNormalize(norm_reward=True)`` and gymnasium's ``NormalizeReward``, so that value targets keep a scale
    near 1 whatever the environment's rewards. Its state (the returns so far and their statistics) goes into
    a trainer's checkpoint through :meth:`state_dict`."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8):
        self.gamma = check.real("RewardScaler", "gamma", gamma, nonnegative=True)
        self.clip = check.real("RewardScaler", "clip", clip, positive=True)
        self.eps = check.real("RewardScaler", "eps", eps, positive=True)
        self.returns = torch.zeros(check.integer("RewardScaler", "num_envs", num_envs, minimum=1),
                                   dtype=torch.float64)
        self.stats = RunningNormalizer((1,), eps=eps)

    def __call__(self, rewards: torch.Tensor, ended: torch.Tensor) -> torch.Tensor:
        """The scaled ``rewards`` (N,) of one step (in their dtype); ``ended`` (N,) bool: the episodes that
        ended at this step."""
        self.returns = self.returns.to(rewards.device) * self.gamma + rewards.to(torch.float64)
        self.stats.update(self.returns[:, None])
        scale = (self.stats.var + self.eps).sqrt().to(rewards.dtype)
        self.returns = self.returns.masked_fill(ended.to(self.returns.device), 0.0)
        return (rewards / scale).clamp(-self.clip, self.clip)

    def state_dict(self) -> dict:
        return {"returns": self.returns.clone(), "stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = state["returns"].clone()
        self.stats.load_state_dict(state["stats"])
