"""Advantage actor-critic (A2C; Mnih et al. 2016, synchronous) on vectorized environments.

Read top to bottom: ``num_envs`` environments step ``num_steps`` times
(5 by default) with the current policy; the advantages are n-step returns
minus the value (GAE with ``lambda = 1`` by default); one gradient step on

    - log pi(a|s) A + c_v (V - V_target)^2 - c_e H(pi),

with RMSprop and gradient clipping. Defaults are those of rl-baselines3-zoo
for CartPole-v1 (8 environments, no entropy bonus). With ``checkpoint=`` a
run can be killed at any moment and resumed from its last checkpoint,
ending bit for bit as if it had never stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.distributions import Categorical
from tqdm.auto import tqdm

from .. import validation as check
from .agent import Agent
from .common import (TrainResult, agent_policy, checkpoint_path, fractions,
                     load_run, plain_fields, require_finite, run_log, save_run)
from .envs import close_if_made, env_name, observation_size, require_discrete, vector_env
from .logs import run_logger
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
        plain_fields(self)


def train_a2c(env="CartPole-v1", config: A2CConfig = A2CConfig(), *, policy: ActorCritic | None = None,
              seed: int = 0, device="cpu", progress: bool = True, mask_velocity: bool = False,
              checkpoint: str | Path | None = None, checkpoint_every: int = 10_000, logger=None) -> TrainResult:
    """Train ``policy`` (default :class:`MLPActorCritic`) with A2C on ``env`` (an id, a ``gymnasium.Env``, a
    function making one or a vector env: :func:`~neuroai.rl.envs.vector_env`); ``mask_velocity``: hide CartPole's
    velocities (a task for :class:`LSTMActorCritic`).

    ``checkpoint``: a file to which the run's whole state (policy, optimizer,
    random generators, episode and loss logs, where the rollouts stand with
    a recurrent policy's state, and the environments mid-episode:
    :func:`~neuroai.rl.envs.env_state`) is written atomically after the
    update in which the environment steps reach a multiple of
    ``checkpoint_every``, and after the last; if it exists when training
    starts, the run resumes from it and ends exactly as the uninterrupted
    run would have, bit for bit (on the same machine and versions; on a GPU,
    as far as its kernels are deterministic). Environments outside classic
    control cannot be checkpointed (a ValueError at the start).

    ``logger``: a :class:`~neuroai.rl.logs.CSVLog`, a :class:`~neuroai.rl.logs.TensorBoardLog` or a list of them,
    given each episode's return and the losses of an update every
    1,000 environment steps as the run goes (a resumed run's logs drop what was logged after its
    checkpoint)."""
    if not isinstance(config, A2CConfig):
        raise TypeError(f"train_a2c: parameter 'config' must be an A2CConfig, got {type(config).__name__}")
    seed = check.seed("train_a2c", seed)
    progress = check.flag("train_a2c", "progress", progress)
    checkpoint_every = check.integer("train_a2c", "checkpoint_every", checkpoint_every, minimum=1)
    device = check.torch_device("train_a2c", device)
    log = run_logger("train_a2c", logger)
    envs, obs = vector_env(env, config.num_envs, seed, mask_velocity=mask_velocity, owner="train_a2c")
    env_id = env_name(envs)
    checkpoint = checkpoint_path("train_a2c", checkpoint, envs)
    actions = require_discrete("train_a2c", envs)
    obs_size = observation_size("train_a2c", envs)
    torch.manual_seed(seed)
    policy = agent_policy("train_a2c", policy, obs_size, actions, device, lambda: MLPActorCritic(obs_size, actions))
    optimizer = torch.optim.RMSprop(policy.parameters(), lr=config.learning_rate, alpha=0.99, eps=1e-5)
    batch_size = config.num_envs * config.num_steps
    updates = config.total_timesteps // batch_size
    at = cursor(policy, obs, device)
    saved = load_run(checkpoint, "train_a2c", env_id, config, seed, envs, policy=policy, optimizer=optimizer, cursor=at)
    episodes, losses, elapsed = run_log(saved)
    begin = 0 if saved is None else int(saved["update"])
    start = time.perf_counter() - elapsed
    log.start("train_a2c", env_id, at.step, [r for _, r in episodes])
    for update in tqdm(range(begin, updates), initial=begin, total=updates, desc=f"A2C {env_id}",
                       disable=not progress):
        batch = collect(envs, policy, at, config.num_steps, config.gamma)
        at = batch.last
        episodes += batch.episodes
        for step, episode_return in batch.episodes:
            log.episode(step, episode_return)
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
        require_finite("train_a2c", at.step, loss, policy)
        if len(losses) < at.step // 1000:
            losses.append((at.step, float(loss.detach())))
            log.update(at.step, {"loss": float(loss.detach()), "policy_loss": float(policy_loss.detach()),
                                 "value_loss": float(value_loss.detach())})
        if checkpoint is not None and (at.step // checkpoint_every > (at.step - batch_size) // checkpoint_every
                                       or update + 1 == updates):
            save_run(checkpoint, "train_a2c", env_id, config, seed, envs, update=update + 1, policy=policy,
                     optimizer=optimizer, cursor=at, episodes=episodes, losses=losses,
                     seconds=time.perf_counter() - start)
    close_if_made(env, envs)
    log.close()
    return TrainResult(episodes, policy, time.perf_counter() - start, at.step, losses,
                       Agent(policy, "a2c", envs.single_observation_space, envs.single_action_space))
