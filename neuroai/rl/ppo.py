"""Proximal policy optimization (Schulman et al. 2017) with GAE, on vectorized environments.

Read top to bottom: ``num_envs`` environments step ``num_steps`` times with
the current stochastic policy; advantages come from GAE (a time-limit
truncation is bootstrapped by adding ``gamma V(final observation)`` to its
reward, a termination is not); then ``update_epochs`` passes over shuffled
minibatches minimize

    - min(rho A, clip(rho, 1 - eps, 1 + eps) A) + c_v (V - V_target)^2 - c_e H(pi),

``rho = pi(a|s) / pi_old(a|s)``, advantages normalized per minibatch,
gradients clipped to ``max_grad_norm``, the learning rate annealed linearly
to 0. Defaults are CleanRL's ``ppo.py`` for CartPole-v1 (published final
return 490.0 after 500k steps). The policy is any :class:`ActorCritic`:
the MLP below, or a spiking one (:mod:`neuroai.rl.spiking`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from tqdm.auto import tqdm

from .. import validation as check
from .common import TrainResult
from .envs import require_discrete, vector_env
from .returns import gae
from .rollout import collect


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters (CleanRL's CartPole defaults)."""
    total_timesteps: int = 500_000
    learning_rate: float = 2.5e-4
    anneal_lr: bool = True
    num_envs: int = 4
    num_steps: int = 128            # steps per environment per rollout
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self):
        owner = "PPOConfig"
        for name in ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        for name in ("gamma", "gae_lambda"):
            if not 0 <= check.real(owner, name, getattr(self, name)) <= 1:
                raise ValueError(f"{owner}: parameter '{name}' must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("clip_coef", "ent_coef", "vf_coef", "max_grad_norm"):
            check.real(owner, name, getattr(self, name), nonnegative=True)
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(f"{owner}: num_envs * num_steps ({self.num_envs * self.num_steps}) must be divisible "
                             f"by num_minibatches ({self.num_minibatches})")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


class ActorCritic(nn.Module):
    """Interface of PPO's policies: ``forward(obs (B, obs)) -> (logits (B, actions), value (B,))``."""

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def _layer(inputs: int, outputs: int, gain: float) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLPActorCritic(ActorCritic):
    """Separate tanh MLPs for the policy and the value, orthogonally initialized
    (gain sqrt 2, policy head 0.01, value head 1), as in CleanRL."""

    def __init__(self, obs_size: int, actions: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()

        def mlp(out: int, gain: float) -> nn.Sequential:
            layers, width = [], obs_size
            for h in hidden:
                layers += [_layer(width, h, math.sqrt(2)), nn.Tanh()]
                width = h
            return nn.Sequential(*layers, _layer(width, out, gain))

        self.actor, self.critic = mlp(actions, 0.01), mlp(1, 1.0)

    def forward(self, obs):
        return self.actor(obs), self.critic(obs).squeeze(-1)


def ppo_loss(config: PPOConfig, policy: ActorCritic, obs, actions, old_log_probs, advantages, returns):
    """The clipped surrogate loss, value loss and entropy bonus on one minibatch; returns
    ``(loss, stats)`` with the policy and value losses, entropy, approximate KL and clip fraction."""
    logits, values = policy(obs)
    dist = Categorical(logits=logits)
    log_probs = dist.log_prob(actions)
    ratio = (log_probs - old_log_probs).exp()
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = torch.max(-advantages * ratio,
                            -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)).mean()
    value_loss = 0.5 * (values - returns).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    with torch.no_grad():
        stats = {"policy_loss": float(policy_loss), "value_loss": float(value_loss), "entropy": float(entropy),
                 "approx_kl": float(((ratio - 1) - (log_probs - old_log_probs)).mean()),
                 "clip_fraction": float(((ratio - 1).abs() > config.clip_coef).float().mean())}
    return loss, stats


def train_ppo(env_id: str = "CartPole-v1", config: PPOConfig = PPOConfig(), *, policy: ActorCritic | None = None,
              seed: int = 0, device="cpu", progress: bool = True) -> TrainResult:
    """Train ``policy`` (default :class:`MLPActorCritic`) with PPO on ``env_id``; see the module docstring."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"train_ppo: parameter 'config' must be a PPOConfig, got {type(config).__name__}")
    seed = check.seed("train_ppo", seed)
    envs, obs = vector_env(env_id, config.num_envs, seed)
    actions = require_discrete("train_ppo", envs)
    torch.manual_seed(seed)
    obs_size = int(np.prod(envs.single_observation_space.shape))
    policy = (policy or MLPActorCritic(obs_size, actions)).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=1e-5)
    updates = config.total_timesteps // config.batch_size
    episodes, losses, step = [], [], 0
    obs = torch.as_tensor(obs, dtype=torch.float32, device=device)
    start = time.perf_counter()
    for update in tqdm(range(updates), desc=f"PPO {env_id}", disable=not progress):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1 - update / updates)
        batch = collect(envs, policy, obs, config.num_steps, config.gamma, step)
        obs, step = batch.last_obs, step + config.batch_size
        episodes += batch.episodes
        with torch.no_grad():
            advantages, returns = gae(batch.rewards, batch.values, batch.dones, policy(obs)[1], config.gamma,
                                      config.gae_lambda)
        flat = [batch.obs.flatten(0, 1), batch.actions.flatten(), batch.log_probs.flatten(), advantages.flatten(),
                returns.flatten()]
        minibatch = config.batch_size // config.num_minibatches
        for _ in range(config.update_epochs):
            for idx in torch.randperm(config.batch_size, device=device).split(minibatch):
                loss, stats = ppo_loss(config, policy, *(x[idx] for x in flat))
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()
        losses.append((step, stats["policy_loss"]))
    envs.close()
    return TrainResult(episodes, policy, time.perf_counter() - start, step, losses)
