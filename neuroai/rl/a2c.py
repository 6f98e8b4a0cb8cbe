"""Advantage actor-critic (A2C; Mnih et al. 2016, synchronous) on vectorized environments.

Read top to bottom: ``num_envs`` environments step ``num_steps`` times
(5 by default) with the current policy; the advantages are n-step returns
minus the value (GAE with ``lambda = 1`` by default); one gradient step on

    - log pi(a|s) A + c_v (V - V_target)^2 - c_e H(pi),

with RMSprop and gradient clipping. Defaults are those of rl-baselines3-zoo
for CartPole-v1 (8 environments, no entropy bonus).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from tqdm.auto import tqdm

from .. import validation as check
from .common import TrainResult, fractions
from .envs import require_discrete, vector_env
from .policies import ActorCritic, MLPActorCritic
from .returns import gae
from .rollout import bootstrap_value, collect, cursor


@dataclass(frozen=True)
class A2CConfig:
    """Hyper-parameters (rl-baselines3-zoo's CartPole-v1 settings for A2C)."""
    total_timesteps: int = 500_000
    learning_rate: float = 7e-4
    num_envs: int = 8
    num_steps: int = 5
    gamma: float = 0.99
    gae_lambda: float = 1.0
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self):
        owner = "A2CConfig"
        for name in ("total_timesteps", "num_envs", "num_steps"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        fractions(owner, self, ("gamma", "gae_lambda"))
        for name in ("ent_coef", "vf_coef", "max_grad_norm"):
            check.real(owner, name, getattr(self, name), nonnegative=True)


def train_a2c(env_id: str = "CartPole-v1", config: A2CConfig = A2CConfig(), *, policy: ActorCritic | None = None,
              seed: int = 0, device="cpu", progress: bool = True, mask_velocity: bool = False) -> TrainResult:
    """Train ``policy`` (default :class:`MLPActorCritic`) with A2C on ``env_id``; ``mask_velocity``:
    hide CartPole's velocities (a task for :class:`LSTMActorCritic`)."""
    if not isinstance(config, A2CConfig):
        raise TypeError(f"train_a2c: parameter 'config' must be an A2CConfig, got {type(config).__name__}")
    seed = check.seed("train_a2c", seed)
    envs, obs = vector_env(env_id, config.num_envs, seed, mask_velocity=mask_velocity)
    actions = require_discrete("train_a2c", envs)
    torch.manual_seed(seed)
    obs_size = int(np.prod(envs.single_observation_space.shape))
    policy = (policy or MLPActorCritic(obs_size, actions)).to(device)
    optimizer = torch.optim.RMSprop(policy.parameters(), lr=config.learning_rate, alpha=0.99, eps=1e-5)
    batch_size = config.num_envs * config.num_steps
    episodes, losses = [], []
    at = cursor(policy, obs, device)
    start = time.perf_counter()
    for _ in tqdm(range(config.total_timesteps // batch_size), desc=f"A2C {env_id}", disable=not progress):
        batch = collect(envs, policy, at, config.num_steps, config.gamma)
        at = batch.last
        episodes += batch.episodes
        advantages, returns = gae(batch.rewards, batch.values, batch.dones, bootstrap_value(policy, at),
                                  config.gamma, config.gae_lambda)
        logits, values, _ = policy.sequence(batch.obs, batch.state, batch.starts)
        logits, values = logits.flatten(0, 1), values.flatten()
        dist = Categorical(logits=logits)
        policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages.flatten()).mean()
        value_loss = 0.5 * (values - returns.flatten()).pow(2).mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
        optimizer.step()
        if len(losses) < at.step // 1000:
            losses.append((at.step, float(loss.detach())))
    envs.close()
    return TrainResult(episodes, policy, time.perf_counter() - start, at.step, losses)
