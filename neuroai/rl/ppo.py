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
an MLP, an LSTM for partial observability, or a spiking network (:mod:`neuroai.rl.policies`); for
continuous actions a Gaussian (:class:`GaussianActorCritic`, its observations normalized by running
statistics that are updated after each update), its samples clipped to the action bounds for the
environment. rl-baselines3-zoo's Pendulum-v1 setting is ``PPOConfig(total_timesteps=100_000,
num_steps=1024, gamma=0.9, update_epochs=10, num_minibatches=64, ent_coef=0.0, learning_rate=1e-3,
anneal_lr=False)``.
With ``checkpoint=`` a run can be killed at any moment and resumed from its
last update, ending bit for bit as if it had never stopped.
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
from .envs import action_size, close_if_made, env_name, observation_size, vector_env
from .logs import run_logger
from .normalization import RewardScaler
from .policies import ActorCritic, GaussianActorCritic, MLPActorCritic
from .returns import gae
from .rollout import bootstrap_value, collect, cursor


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
    normalize_rewards: bool = False   # rewards / running std of the discounted return (RewardScaler)
    sde_sample_freq: int = -1         # steps between redraws of gSDE's noise (-1: once per rollout)

    def __post_init__(self):
        owner = "PPOConfig"
        for name in ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        check.flag(owner, "anneal_lr", self.anneal_lr)
        check.flag(owner, "normalize_rewards", self.normalize_rewards)
        if check.integer(owner, "sde_sample_freq", self.sde_sample_freq, minimum=-1) == 0:
            raise ValueError(f"{owner}: parameter 'sde_sample_freq' must be -1 (once per rollout) or >= 1, got 0")
        fractions(owner, self, ("gamma", "gae_lambda"))
        for name in ("clip_coef", "ent_coef", "vf_coef", "max_grad_norm"):
            check.real(owner, name, getattr(self, name), nonnegative=True)
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(f"{owner}: num_envs * num_steps ({self.num_envs * self.num_steps}) must be divisible "
                             f"by num_minibatches ({self.num_minibatches})")
        plain_fields(self)

    @property
    def batch_size(self) -> int:
        """Transitions per rollout: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps


def ppo_loss(config: PPOConfig, logits, values, actions, old_log_probs, advantages, returns, policy=None):
    """The clipped surrogate loss, value loss and entropy bonus on one minibatch (the policy's head
    ``logits`` (B, actions) and ``values`` (B,) on it; the head parametrizes ``policy.distribution``, or
    logits of a categorical without ``policy``); returns ``(loss, stats)`` with the policy and value losses,
    entropy, approximate KL and clip fraction."""
    dist = Categorical(logits=logits) if policy is None else policy.distribution(logits)
    log_probs = dist.log_prob(actions)
    ratio = (log_probs - old_log_probs).exp()
    centred = advantages - advantages.mean()   # (a minibatch of one has no spread: its advantage is 0)
    advantages = centred / (advantages.std() + 1e-8) if advantages.numel() > 1 else centred
    # (the ratio is positive and finite: bounds beyond [0, its largest float] change nothing, and would not fit)
    low, high = max(1 - config.clip_coef, 0.0), min(1 + config.clip_coef, torch.finfo(ratio.dtype).max)
    policy_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(low, high)).mean()
    value_loss = 0.5 * (values - returns).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    with torch.no_grad():
        stats = {"policy_loss": float(policy_loss), "value_loss": float(value_loss), "entropy": float(entropy),
                 "approx_kl": float(((ratio - 1) - (log_probs - old_log_probs)).mean()),
                 "clip_fraction": float(((ratio - 1).abs() > config.clip_coef).float().mean())}
    return loss, stats


def train_ppo(env="CartPole-v1", config: PPOConfig = PPOConfig(), *, policy: ActorCritic | None = None,
              seed: int = 0, device="cpu", progress: bool = True, mask_velocity: bool = False,
              checkpoint: str | Path | None = None, logger=None) -> TrainResult:
    """Train ``policy`` (default :class:`MLPActorCritic`, :class:`GaussianActorCritic` for continuous actions) with
    PPO on ``env`` (an id, a ``gymnasium.Env``, a
    function making one or a vector env: :func:`~neuroai.rl.envs.vector_env`); see the module docstring.
    ``mask_velocity``: hide CartPole's velocities (a task for :class:`LSTMActorCritic`).

    ``checkpoint``: a file to which the run's whole state (policy, optimizer,
    random generators, episode and loss logs, where the rollouts stand with
    a recurrent policy's state, and the environments mid-episode:
    :func:`~neuroai.rl.envs.env_state`) is written atomically after every
    update; if it exists when training starts, the run resumes from it and
    ends exactly as the uninterrupted run would have, bit for bit (on the
    same machine and versions; on a GPU, as far as its kernels are
    deterministic). Environments outside classic control cannot be
    checkpointed (a ValueError at the start).

    ``logger``: a :class:`~neuroai.rl.logs.CSVLog`, a :class:`~neuroai.rl.logs.TensorBoardLog` or a list of them,
    given each episode's return and each update's losses and statistics (means over
    its minibatches) and learning rate as the run goes (a resumed run's logs drop what was logged after its
    checkpoint)."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"train_ppo: parameter 'config' must be a PPOConfig, got {type(config).__name__}")
    seed = check.seed("train_ppo", seed)
    progress = check.flag("train_ppo", "progress", progress)
    device = check.torch_device("train_ppo", device)
    log = run_logger("train_ppo", logger)
    envs, obs = vector_env(env, config.num_envs, seed, mask_velocity=mask_velocity, owner="train_ppo")
    env_id = env_name(envs)
    checkpoint = checkpoint_path("train_ppo", checkpoint, envs)
    actions, continuous = action_size("train_ppo", envs)
    obs_size = observation_size("train_ppo", envs)
    torch.manual_seed(seed)
    default = GaussianActorCritic if continuous else MLPActorCritic
    policy = agent_policy("train_ppo", policy, obs_size, actions, device, lambda: default(obs_size, actions),
                          continuous)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=1e-5)
    updates = config.total_timesteps // config.batch_size
    at = cursor(policy, obs, device)
    scaler = {"scaler": RewardScaler(config.num_envs, config.gamma)} if config.normalize_rewards else {}
    saved = load_run(checkpoint, "train_ppo", env_id, config, seed, envs, policy=policy, optimizer=optimizer, cursor=at,
                     **scaler)
    episodes, losses, elapsed = run_log(saved)
    begin = 0 if saved is None else int(saved["update"])
    start = time.perf_counter() - elapsed
    log.start("train_ppo", env_id, at.step, [r for _, r in episodes])
    for update in tqdm(range(begin, updates), initial=begin, total=updates, desc=f"PPO {env_id}",
                       disable=not progress):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1 - update / updates)
        batch = collect(envs, policy, at, config.num_steps, config.gamma, scaler.get("scaler"),
                        config.sde_sample_freq)
        at = batch.last
        episodes += batch.episodes
        for step, episode_return in batch.episodes:
            log.episode(step, episode_return)
        advantages, returns = gae(batch.rewards, batch.values, batch.dones, bootstrap_value(policy, at),
                                  config.gamma, config.gae_lambda)
        targets = (batch.actions, batch.log_probs, advantages, returns)
        totals = {}
        for _ in range(config.update_epochs):
            for logits, values, minibatch in minibatches(config, policy, batch, device):
                picked = (x[minibatch].flatten(0, 1) if policy.recurrent else x[minibatch] for x in targets)
                loss, stats = ppo_loss(config, logits, values, *picked, policy=policy)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()
                require_finite("train_ppo", at.step, loss, policy)
                totals = {k: totals.get(k, 0.0) + v for k, v in stats.items()}
        policy.observe(batch.obs)
        losses.append((at.step, stats["policy_loss"]))
        runs = config.update_epochs * config.num_minibatches
        log.update(at.step, {**{k: v / runs for k, v in totals.items()},
                             "learning_rate": optimizer.param_groups[0]["lr"]})
        if checkpoint is not None:
            save_run(checkpoint, "train_ppo", env_id, config, seed, envs, update=update + 1, policy=policy,
                     optimizer=optimizer, cursor=at, episodes=episodes, losses=losses,
                     seconds=time.perf_counter() - start, **scaler)
    close_if_made(env, envs)
    log.close()
    return TrainResult(episodes, policy, time.perf_counter() - start, at.step, losses,
                       Agent(policy, "ppo", envs.single_observation_space, envs.single_action_space))


def minibatches(config: PPOConfig, policy: ActorCritic, batch, device):
    """Shuffled minibatches of a rollout with the policy evaluated on them: ``(logits (B, A),
    values (B,), index)``, ``index`` selecting the minibatch's entries of (T, N) tensors. A
    recurrent policy gets whole environments (their sequences replayed from the rollout's
    initial state); a feed-forward one, any steps."""
    if policy.recurrent:
        for envs in torch.randperm(config.num_envs, device=device).chunk(config.num_minibatches):
            logits, values, _ = policy.sequence(batch.obs[:, envs], policy.select_state(batch.state, envs),
                                                batch.starts[:, envs])
            yield logits.flatten(0, 1), values.flatten(), (slice(None), envs)
        return
    size = config.batch_size // config.num_minibatches
    for flat in torch.randperm(config.batch_size, device=device).split(size):
        steps, envs = flat // config.num_envs, flat % config.num_envs
        logits, values = policy(batch.obs[steps, envs])
        yield logits, values, (steps, envs)
