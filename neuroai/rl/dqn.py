"""Deep Q-learning (Mnih et al. 2015) with Double DQN (van Hasselt et al. 2016) and dueling heads
(Wang et al. 2016) as options, for discrete actions.

Read top to bottom: an epsilon-greedy behaviour policy fills a replay buffer;
every ``train_frequency`` steps after ``learning_starts`` a batch is drawn
and the Q-network regresses ``r + gamma (1 - done) max_a' Q_target(s', a')``
(Double DQN: the target network evaluates the online network's argmax);
the target network copies the online one every ``target_update`` steps
(``tau = 1``) or tracks it softly (``tau < 1``). Defaults are CleanRL's
``dqn.py`` for CartPole-v1 (published final return 488.7 after 500k steps).
Time-limit truncations are bootstrapped, terminations are not. With
``checkpoint=`` a run can be killed at any moment and resumed from its last
checkpoint, ending bit for bit as if it had never stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import validation as check
from .agent import Agent
from .buffers import ReplayBuffer
from .common import (TrainResult, checkpoint_path, fractions, load_run, off_policy_start, plain_fields,
                     require_finite, save_run)
from .envs import (close_if_made, env_name, finished_episodes, observation_size, require_discrete,
                   true_next_observations, vector_env)
from .logs import run_logger
from .policies import parameters, sizes, widths


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters (CleanRL's CartPole defaults)."""
    total_timesteps: int = 500_000
    learning_rate: float = 2.5e-4
    buffer_size: int = 10_000
    gamma: float = 0.99
    tau: float = 1.0                    # target update: 1 copies, < 1 blends (Polyak)
    target_update: int = 500            # steps between target updates
    batch_size: int = 128
    start_epsilon: float = 1.0
    end_epsilon: float = 0.05
    exploration_fraction: float = 0.5   # of total_timesteps over which epsilon decays linearly
    learning_starts: int = 10_000
    train_frequency: int = 10
    hidden: tuple[int, ...] = (120, 84)
    double: bool = False
    dueling: bool = False

    def __post_init__(self):
        owner = "DQNConfig"
        for name in ("total_timesteps", "buffer_size", "target_update", "batch_size", "train_frequency"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.integer(owner, "learning_starts", self.learning_starts, minimum=0)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        fractions(owner, self, ("gamma", "tau", "start_epsilon", "end_epsilon", "exploration_fraction"))
        object.__setattr__(self, "hidden", widths(owner, self.hidden))
        for name in ("double", "dueling"):
            check.flag(owner, name, getattr(self, name))
        plain_fields(self)


class QNetwork(nn.Module):
    """An MLP from observations (B, obs) to action values (B, actions); ``dueling``:
    ``Q = V + A - mean_a A`` from two heads on a shared trunk."""

    def __init__(self, obs_size: int, actions: int, hidden: tuple[int, ...] = (120, 84), dueling: bool = False):
        super().__init__()
        obs_size, actions = sizes("QNetwork", obs_size, actions)
        hidden = widths("QNetwork", hidden)
        dueling = check.flag("QNetwork", "dueling", dueling)
        parameters("QNetwork", [obs_size, *hidden, actions + dueling])
        self.arguments = {"obs_size": obs_size, "actions": actions, "hidden": list(hidden), "dueling": dueling}
        layers, width = [], obs_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.dueling = dueling
        self.head = nn.Linear(width, actions)
        self.value = nn.Linear(width, 1) if dueling else None

    def act(self, obs: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None):
        """The greedy actions (B,) (the behaviour policy's exploration belongs to training, not to acting)."""
        return self(obs).argmax(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` (B, obs) -> action values (B, actions)."""
        features = self.trunk(obs)
        q = self.head(features)
        if self.dueling:
            q = self.value(features) + q - q.mean(dim=1, keepdim=True)
        return q


def epsilon(config: DQNConfig, step: int) -> float:
    """The linearly decaying exploration rate at ``step``."""
    span = max(1.0, config.exploration_fraction * config.total_timesteps)
    return max(config.end_epsilon, config.start_epsilon + (config.end_epsilon - config.start_epsilon) * step / span)


def td_targets(config: DQNConfig, online: QNetwork, target: QNetwork, rewards, next_obs, dones) -> torch.Tensor:
    """``r + gamma (1 - done) Q_target(s', a*)`` with ``a* = argmax Q_target`` (DQN) or
    ``argmax Q_online`` (Double DQN)."""
    with torch.no_grad():
        next_q = target(next_obs)
        if config.double:
            best = online(next_obs).argmax(dim=1, keepdim=True)
            next_value = next_q.gather(1, best).squeeze(1)
        else:
            next_value = next_q.max(dim=1).values
        return rewards + config.gamma * (1.0 - dones) * next_value


def update_target(target: nn.Module, online: nn.Module, tau: float) -> None:
    """``target <- tau online + (1 - tau) target`` (``tau = 1``: a copy)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.lerp_(o, tau)


def train_dqn(env="CartPole-v1", config: DQNConfig = DQNConfig(), *, seed: int = 0, device="cpu",
              progress: bool = True, checkpoint: str | Path | None = None, checkpoint_every: int = 10_000,
              logger=None) -> TrainResult:
    """Train a DQN agent on ``env`` (one environment: an id, a ``gymnasium.Env``, a function making one or a vector
    env of one: :func:`~neuroai.rl.envs.vector_env`); see the module docstring.

    ``checkpoint``: a file to which the run's whole state (networks,
    optimizer, replay buffer, random generators, episode and loss logs, and
    the environment mid-episode: :func:`~neuroai.rl.envs.env_state`) is
    written atomically every ``checkpoint_every`` environment steps and at
    the end; if it exists when training starts, the run resumes from it and
    ends exactly as the uninterrupted run would have, bit for bit (on the
    same machine and versions; on a GPU, as far as its kernels are
    deterministic). Environments outside classic control cannot be
    checkpointed (a ValueError at the start).

    ``logger``: a :class:`~neuroai.rl.logs.CSVLog`, a :class:`~neuroai.rl.logs.TensorBoardLog` or a list of them,
    given each episode's return and the loss and exploration rate every 100
    environment steps of training as the run goes (a resumed run's logs drop what was logged after its
    checkpoint).
    """
    if not isinstance(config, DQNConfig):
        raise TypeError(f"train_dqn: parameter 'config' must be a DQNConfig, got {type(config).__name__}")
    seed = check.seed("train_dqn", seed)
    progress = check.flag("train_dqn", "progress", progress)
    checkpoint_every = check.integer("train_dqn", "checkpoint_every", checkpoint_every, minimum=1)
    device = check.torch_device("train_dqn", device)
    log = run_logger("train_dqn", logger)
    envs, obs = vector_env(env, 1, seed, owner="train_dqn")
    env_id = env_name(envs)
    checkpoint = checkpoint_path("train_dqn", checkpoint, envs)
    actions = require_discrete("train_dqn", envs)
    obs_size = observation_size("train_dqn", envs)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    online = QNetwork(obs_size, actions, config.hidden, config.dueling).to(device)
    target = QNetwork(obs_size, actions, config.hidden, config.dueling).to(device)
    target.load_state_dict(online.state_dict())
    optimizer = torch.optim.Adam(online.parameters(), lr=config.learning_rate)
    buffer = ReplayBuffer(config.buffer_size, (obs_size,), device=device, seed=seed)
    saved = load_run(checkpoint, "train_dqn", env_id, config, seed, envs, online=online, target=target,
                     optimizer=optimizer, buffer=buffer)
    episodes, losses, start, begin, obs = off_policy_start(saved, rng, obs)
    log.start("train_dqn", env_id, begin, [r for _, r in episodes])
    bar = tqdm(total=config.total_timesteps, initial=begin, desc=f"DQN {env_id}", disable=not progress, unit="step")
    for step in range(begin, config.total_timesteps):
        if rng.random() < epsilon(config, step):
            action = np.array([rng.integers(actions)])
        else:
            with torch.no_grad():
                action = online(torch.as_tensor(obs, dtype=torch.float32, device=device)).argmax(1).cpu().numpy()
        next_obs, reward, terminated, truncated, infos = envs.step(action)
        real_next = true_next_observations(next_obs, infos)
        buffer.add(obs, action, reward, real_next, terminated)
        for episode_return in finished_episodes(infos):
            episodes.append((step, episode_return))
            log.episode(step, episode_return)
        obs = next_obs
        if step >= config.learning_starts and step % config.train_frequency == 0:
            batch = buffer.sample(config.batch_size)
            targets = td_targets(config, online, target, batch.rewards, batch.next_obs, batch.dones)
            predicted = online(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
            loss = nn.functional.mse_loss(predicted, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            require_finite("train_dqn", step, loss, online)
            if step % 100 == 0:
                losses.append((step, float(loss.detach())))
                log.update(step, {"loss": float(loss.detach()), "exploration_rate": epsilon(config, step)})
        if step >= config.learning_starts and step % config.target_update == 0:
            update_target(target, online, config.tau)
        if progress and step % 1000 == 0:
            bar.update(1000)
            if episodes:
                bar.set_postfix(mean_return=np.mean([r for _, r in episodes[-20:]]))
        if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == config.total_timesteps):
            save_run(checkpoint, "train_dqn", env_id, config, seed, envs, step=step + 1, online=online,
                     target=target, optimizer=optimizer, buffer=buffer, rng=rng.bit_generator.state,
                     episodes=episodes, losses=losses, seconds=time.perf_counter() - start)
    bar.close()
    close_if_made(env, envs)
    log.close()
    return TrainResult(episodes, online, time.perf_counter() - start, config.total_timesteps, losses,
                       Agent(online, "dqn", envs.single_observation_space, envs.single_action_space))
