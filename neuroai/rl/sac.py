"""Soft actor-critic (Haarnoja et al. 2018, with the learned temperature of Haarnoja et al. 2018b) for
continuous actions.

Read top to bottom: after ``learning_starts`` uniformly random actions, a
squashed Gaussian policy, ``a = tanh(u)``, ``u ~ N(mu(s), sigma(s))``, acts and
fills a replay buffer (actions stored in [-1, 1], rescaled to the action
space's bounds for the environment); every ``train_freq`` steps,
``gradient_steps`` updates each

1. adapt the temperature ``alpha`` towards the target entropy ``-dim(A)``;
2. regress both critics on ``r + gamma (1 - done) (min_i Q'_i(s', a') - alpha log pi(a'|s'))``,
   ``a' ~ pi(s')``, with target critics ``Q'`` tracking the critics by Polyak averaging (``tau``);
3. move the policy down ``alpha log pi(a|s) - min_i Q_i(s, a)``, ``a ~ pi(s)`` reparameterized.

This is Stable-Baselines3's SAC (its order of the three losses, its defaults in
:class:`SACConfig`); rl-baselines3-zoo's Pendulum-v1 setting is
``SACConfig(learning_rate=1e-3)``, 20,000 steps; its MountainCarContinuous-v0 setting explores with gSDE
(:class:`SquashedGaussianActor`): ``SACConfig(total_timesteps=50_000, buffer_size=50_000, batch_size=512,
ent_coef=0.1, train_freq=32, gradient_steps=32, gamma=0.9999, tau=0.01, learning_starts=0, hidden=(64, 64),
state_dependent=True, log_std_init=-3.67)``. Time-limit truncations are
bootstrapped, terminations are not. With ``checkpoint=`` a run can be killed
at any moment and resumed from its last checkpoint, ending bit for bit as if
it had never stopped.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .. import validation as check
from .agent import Agent
from .buffers import ReplayBuffer
from .common import (TrainResult, checkpoint_path, fractions, load_run, off_policy_start, plain_fields,
                     require_finite, save_run)
from .dqn import update_target
from .envs import (close_if_made, env_name, finished_episodes, observation_size, require_box,
                   true_next_observations, vector_env)
from .logs import run_logger
from .policies import parameters, sde_std, sizes, widths


@dataclass(frozen=True)
class SACConfig:
    """Hyper-parameters (Stable-Baselines3's SAC defaults; ``ent_coef`` None: the temperature is learned,
    from ``init_ent_coef``, towards the entropy ``target_entropy``, None: ``-dim(A)``)."""
    total_timesteps: int = 20_000
    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    ent_coef: float | None = None
    init_ent_coef: float = 1.0
    target_entropy: float | None = None
    hidden: tuple[int, ...] = (256, 256)
    state_dependent: bool = False    # gSDE (SB3's use_sde), from log std log_std_init
    log_std_init: float = -3.0
    sde_sample_freq: int = -1        # steps between redraws of gSDE's noise while acting (-1: every train_freq)

    def __post_init__(self):
        owner = "SACConfig"
        check.flag(owner, "state_dependent", self.state_dependent)
        check.real(owner, "log_std_init", self.log_std_init)
        if check.integer(owner, "sde_sample_freq", self.sde_sample_freq, minimum=-1) == 0:
            raise ValueError(f"{owner}: parameter 'sde_sample_freq' must be -1 (every train_freq steps) or >= 1, "
                             f"got 0")
        for name in ("total_timesteps", "buffer_size", "batch_size", "train_freq", "gradient_steps"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.integer(owner, "learning_starts", self.learning_starts, minimum=0)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        check.real(owner, "init_ent_coef", self.init_ent_coef, positive=True)
        if self.ent_coef is not None:
            check.real(owner, "ent_coef", self.ent_coef, nonnegative=True)
        if self.target_entropy is not None:
            check.real(owner, "target_entropy", self.target_entropy)
        fractions(owner, self, ("gamma", "tau"))
        object.__setattr__(self, "hidden", widths(owner, self.hidden))
        plain_fields(self)


def _mlp(inputs: int, hidden: tuple[int, ...], outputs: int) -> nn.Sequential:
    layers, width = [], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, outputs))


class SquashedGaussianActor(nn.Module):
    """SAC's policy: a ReLU MLP from observations (B, obs) to the mean and log standard deviation (clamped to
    [-20, 2]) of ``u``, and actions ``a = tanh(u)`` in [-1, 1] (:meth:`sample`), rescaled to the bounds
    ``low``, ``high`` of the action space by :meth:`act`.

    ``state_dependent=True``: generalized state-dependent exploration (gSDE, Raffin et al. 2022, as
    Stable-Baselines3's SAC has it): the MLP gives the mean only (clipped to [-2, 2]), and the noise is
    ``z(s) @ E``, ``z(s)`` the last hidden layer (latent) and ``E`` (latent, action_dim) a matrix of standard
    normal entries ``noise`` scaled by the learned ``exp(log_std)`` (from ``log_std_init``), held between
    calls of :meth:`reset_noise`: ``u`` is then Gaussian of variance ``z(s)^2 @ exp(2 log_std)``, and the
    exploration is smooth along a trajectory. Gradients flow through ``z``, the mean and ``log_std``."""

    def __init__(self, obs_size: int, action_dim: int, hidden: tuple[int, ...] = (256, 256), low=-1.0, high=1.0,
                 state_dependent: bool = False, log_std_init: float = -3.0):
        super().__init__()
        owner = "SquashedGaussianActor"
        obs_size, action_dim = sizes(owner, obs_size, action_dim)
        hidden = widths(owner, hidden)
        self.state_dependent = check.flag(owner, "state_dependent", state_dependent)
        log_std_init = check.real(owner, "log_std_init", log_std_init)
        parameters(owner, [obs_size, *hidden, 2 * action_dim])
        low = torch.as_tensor(np.broadcast_to(np.asarray(low, dtype=np.float32), (action_dim,)).copy())
        high = torch.as_tensor(np.broadcast_to(np.asarray(high, dtype=np.float32), (action_dim,)).copy())
        if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
            raise ValueError(f"SquashedGaussianActor: the action bounds must be finite with high > low, got low "
                             f"{low.tolist()} and high {high.tolist()}")
        self.arguments = {"obs_size": obs_size, "action_dim": action_dim, "hidden": list(hidden),
                          "low": low.tolist(), "high": high.tolist(), "state_dependent": self.state_dependent,
                          "log_std_init": log_std_init}
        self.net = _mlp(obs_size, hidden, action_dim if self.state_dependent else 2 * action_dim)
        if self.state_dependent:
            latent = (obs_size, *hidden)[-1]
            self.log_std = nn.Parameter(torch.full((latent, action_dim), log_std_init))
            self.register_buffer("noise", torch.zeros(latent, action_dim))
        self.register_buffer("low", low)
        self.register_buffer("high", high)

    def _gaussian(self, obs: torch.Tensor):
        """The mean and log standard deviation of ``u`` (B, action_dim), and the latent features (B, latent)
        (None without state-dependent noise)."""
        if not self.state_dependent:
            mean, log_std = self.net(obs).chunk(2, dim=-1)
            return mean, log_std.clamp(-20.0, 2.0), None
        features = self.net[:-1](obs)
        return self.net[-1](features).clamp(-2.0, 2.0), sde_std(features, self.log_std).log(), features

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs`` (B, obs) -> the mean and log standard deviation of ``u``, each (B, action_dim)."""
        return self._gaussian(obs)[:2]

    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draw a new exploration matrix (state-dependent noise only), with ``generator`` or torch's global
        one."""
        if self.state_dependent:
            self.noise.copy_(torch.randn(self.noise.shape, generator=generator, device=self.noise.device))

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """Reparameterized actions in [-1, 1] (B, action_dim) and their log-probabilities (B,), the tanh's
        change of variables included: ``log pi(a) = log N(u) - sum log(1 - tanh(u)^2)``, the latter written
        ``2 (log 2 - u - softplus(-2u))`` (exact and stable for large ``|u|``). The noise is drawn with
        ``generator``; state-dependent noise is that of the held matrix (a ``generator`` draws a fresh one for
        this call instead)."""
        mean, log_std, features = self._gaussian(obs)
        std = log_std.exp()
        if features is None:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            u = mean + std * noise
        else:
            matrix = self.noise if generator is None else \
                torch.randn(self.noise.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            u = mean + features @ (self.log_std.exp() * matrix)
            noise = (u - mean) / std
        log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob

    def scale(self, squashed: torch.Tensor) -> torch.Tensor:
        """Actions in [-1, 1] as actions within the bounds."""
        return self.low + (squashed + 1) * (0.5 * (self.high - self.low))

    def act(self, obs: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None):
        """Actions within the bounds (B, action_dim): ``tanh(mean)`` if ``deterministic``, else drawn."""
        squashed = torch.tanh(self(obs)[0]) if deterministic else self.sample(obs, generator)[0]
        return self.scale(squashed)


class TwinCritic(nn.Module):
    """Two ReLU MLPs ``Q_i(s, a)`` from observations (B, obs) and actions in [-1, 1] (B, action_dim) -> (B,)."""

    def __init__(self, obs_size: int, action_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        parameters("TwinCritic", [obs_size + action_dim, *hidden, 1], copies=2)
        self.q1, self.q2 = _mlp(obs_size + action_dim, hidden, 1), _mlp(obs_size + action_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


def train_sac(env="Pendulum-v1", config: SACConfig = SACConfig(), *, seed: int = 0, device="cpu",
              progress: bool = True, checkpoint: str | Path | None = None, checkpoint_every: int = 5_000,
              logger=None) -> TrainResult:
    """Train a SAC agent on ``env`` (one environment with a bounded Box action space: an id, a
    ``gymnasium.Env``, a function making one or a vector env of one); see the module docstring. Returns the
    trained :class:`SquashedGaussianActor` as ``model`` (its agent acts with ``tanh(mean)``).

    ``checkpoint``: a file to which the run's whole state (networks, optimizers, temperature, replay buffer,
    random generators, logs and the environment mid-episode) is written atomically every
    ``checkpoint_every`` environment steps and at the end; if it exists when training starts, the run resumes
    from it and ends exactly as the uninterrupted run would have. ``logger``: a
    :class:`~neuroai.rl.logs.CSVLog`, a :class:`~neuroai.rl.logs.TensorBoardLog` or a list of them, given
    each episode's return and, after the updates that fall on a multiple of 100 environment steps, the losses
    and the temperature."""
    if not isinstance(config, SACConfig):
        raise TypeError(f"train_sac: parameter 'config' must be a SACConfig, got {type(config).__name__}")
    owner = "train_sac"
    seed = check.seed(owner, seed)
    progress = check.flag(owner, "progress", progress)
    checkpoint_every = check.integer(owner, "checkpoint_every", checkpoint_every, minimum=1)
    device = check.torch_device(owner, device)
    log = run_logger(owner, logger)
    envs, obs = vector_env(env, 1, seed, owner=owner)
    env_id = env_name(envs)
    checkpoint = checkpoint_path(owner, checkpoint, envs)
    space = require_box(owner, envs)
    action_dim, obs_size = int(np.prod(space.shape)), observation_size(owner, envs)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    actor = SquashedGaussianActor(obs_size, action_dim, config.hidden, space.low, space.high,
                                  config.state_dependent, config.log_std_init).to(device)
    critic = TwinCritic(obs_size, action_dim, config.hidden).to(device)
    target = TwinCritic(obs_size, action_dim, config.hidden).to(device)
    target.load_state_dict(critic.state_dict())
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=config.learning_rate)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.learning_rate)
    log_alpha = torch.full((1,), math.log(config.init_ent_coef), device=device, requires_grad=True)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=config.learning_rate)
    target_entropy = -float(action_dim) if config.target_entropy is None else config.target_entropy
    temperature = _Temperature(log_alpha)
    buffer = ReplayBuffer(config.buffer_size, (obs_size,), action_shape=(action_dim,), device=device, seed=seed)
    saved = load_run(checkpoint, owner, env_id, config, seed, envs, actor=actor, critic=critic, target=target,
                     actor_optimizer=actor_optimizer, critic_optimizer=critic_optimizer, temperature=temperature,
                     alpha_optimizer=alpha_optimizer, buffer=buffer)
    episodes, losses, start, begin, obs = off_policy_start(saved, rng, obs)
    log.start(owner, env_id, begin, [r for _, r in episodes])
    bar = tqdm(total=config.total_timesteps, initial=begin, desc=f"SAC {env_id}", disable=not progress, unit="step")
    for step in range(begin, config.total_timesteps):
        if step < config.learning_starts:
            squashed = rng.uniform(-1.0, 1.0, (1, action_dim)).astype(np.float32)
        else:
            since_training = step % config.train_freq   # (SB3 redraws as each stretch of acting begins)
            if since_training == 0 or (config.sde_sample_freq > 0 and since_training % config.sde_sample_freq == 0):
                actor.reset_noise()
            with torch.no_grad():
                squashed = actor.sample(torch.as_tensor(obs, dtype=torch.float32, device=device))[0].cpu().numpy()
        action = actor.scale(torch.from_numpy(squashed).to(device)).cpu().numpy().reshape(1, *space.shape)
        next_obs, reward, terminated, truncated, infos = envs.step(action)
        real_next = true_next_observations(next_obs, infos)
        buffer.add(obs, squashed, reward, real_next, terminated)
        for episode_return in finished_episodes(infos):
            episodes.append((step + 1, episode_return))
            log.episode(step + 1, episode_return)
        obs = next_obs
        if step + 1 > config.learning_starts and (step + 1) % config.train_freq == 0:
            for _ in range(config.gradient_steps):
                values = sac_update(config, actor, critic, target, buffer.sample(config.batch_size), log_alpha,
                                    target_entropy, (actor_optimizer, critic_optimizer, alpha_optimizer))
                require_finite(owner, step + 1, values["critic_loss"], critic)
                require_finite(owner, step + 1, values["actor_loss"], actor)
            if (step + 1) % 100 == 0:
                losses.append((step + 1, float(values["critic_loss"])))
                log.update(step + 1, {k: float(v) for k, v in values.items()})
        if progress and (step + 1) % 1000 == 0:
            bar.update(1000)
            if episodes:
                bar.set_postfix(mean_return=np.mean([r for _, r in episodes[-10:]]))
        if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == config.total_timesteps):
            save_run(checkpoint, owner, env_id, config, seed, envs, step=step + 1, actor=actor, critic=critic,
                     target=target, actor_optimizer=actor_optimizer, critic_optimizer=critic_optimizer,
                     temperature=temperature, alpha_optimizer=alpha_optimizer, buffer=buffer,
                     rng=rng.bit_generator.state, episodes=episodes, losses=losses,
                     seconds=time.perf_counter() - start)
    bar.close()
    close_if_made(env, envs)
    log.close()
    return TrainResult(episodes, actor, time.perf_counter() - start, config.total_timesteps, losses,
                       Agent(actor, "sac", envs.single_observation_space, space))


class _Temperature:
    """The learned log-temperature as a checkpoint entry (``state_dict`` / ``load_state_dict``)."""

    def __init__(self, log_alpha: torch.Tensor):
        self.log_alpha = log_alpha

    def state_dict(self) -> dict:
        return {"log_alpha": self.log_alpha.detach().clone()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])


def sac_update(config: SACConfig, actor, critic, target, batch, log_alpha, target_entropy: float,
               optimizers) -> dict[str, torch.Tensor]:
    """One SAC update on ``batch`` (see the module docstring, in Stable-Baselines3's order): the temperature
    (unless ``config.ent_coef`` fixes it), the critics, the policy, then the target critics. Returns the
    losses and the temperature used."""
    actor_optimizer, critic_optimizer, alpha_optimizer = optimizers
    actor.reset_noise()   # (state-dependent noise: one matrix for this update's actions and next actions)
    actions, log_prob = actor.sample(batch.obs)
    if config.ent_coef is None:
        alpha = log_alpha.detach().exp()
        alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
        alpha_optimizer.zero_grad()
        alpha_loss.backward()
        alpha_optimizer.step()
    else:
        alpha, alpha_loss = torch.tensor(config.ent_coef), torch.zeros(())
    with torch.no_grad():
        next_actions, next_log_prob = actor.sample(batch.next_obs)
        next_q = torch.min(*target(batch.next_obs, next_actions)) - alpha * next_log_prob
        y = batch.rewards + config.gamma * (1 - batch.dones) * next_q
    q1, q2 = critic(batch.obs, batch.actions)
    critic_loss = 0.5 * (F.mse_loss(q1, y) + F.mse_loss(q2, y))
    critic_optimizer.zero_grad()
    critic_loss.backward()
    critic_optimizer.step()
    actor_loss = (alpha * log_prob - torch.min(*critic(batch.obs, actions))).mean()
    actor_optimizer.zero_grad()
    actor_loss.backward()
    actor_optimizer.step()
    update_target(target, critic, config.tau)
    return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(),
            "ent_coef": alpha.detach().reshape(()), "ent_coef_loss": alpha_loss.detach()}
