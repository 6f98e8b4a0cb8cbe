"""REINFORCE with a learned baseline (Williams 1992; Sutton & Barto 2018, sec. 13.4).

Read top to bottom: play ``episodes_per_update`` whole episodes with the
current stochastic policy (one environment); for every step compute the
discounted return ``G_t`` to the end of its episode; take one gradient step
on ``- log pi(a_t|s_t) (G_t - V(s_t)) + c_v (V(s_t) - G_t)^2``, the value
network serving as the baseline that reduces the variance without biasing
the gradient. Monte-Carlo, so a time-limit truncation is treated as an end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.distributions import Categorical
from tqdm.auto import tqdm

from .. import validation as check
from .agent import Agent
from .common import TrainResult, agent_policy, fractions, plain_fields, require_finite
from .envs import close_if_made, env_factory, env_name, observation_size, require_discrete
from .logs import run_logger
from .policies import ActorCritic, MLPActorCritic
from .returns import discounted_returns


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyper-parameters (tuned for CartPole-v1)."""
    total_timesteps: int = 500_000
    learning_rate: float = 1e-3
    gamma: float = 0.99
    episodes_per_update: int = 4
    vf_coef: float = 0.5

    def __post_init__(self):
        owner = "ReinforceConfig"
        for name in ("total_timesteps", "episodes_per_update"):
            check.integer(owner, name, getattr(self, name), minimum=1)
        check.real(owner, "learning_rate", self.learning_rate, positive=True)
        fractions(owner, self, ("gamma",))
        check.real(owner, "vf_coef", self.vf_coef, nonnegative=True)
        plain_fields(self)


def train_reinforce(env="CartPole-v1", config: ReinforceConfig = ReinforceConfig(), *,
                    policy: ActorCritic | None = None, seed: int = 0, device="cpu",
                    progress: bool = True, logger=None) -> TrainResult:
    """Train ``policy`` (default :class:`MLPActorCritic`) with REINFORCE and a value baseline on ``env`` (an id, a
    ``gymnasium.Env`` or a function making one: :func:`~neuroai.rl.envs.env_factory`).

    ``logger``: a :class:`~neuroai.rl.logs.CSVLog`, a :class:`~neuroai.rl.logs.TensorBoardLog` or a list of them,
    given each episode's return and each update's loss as the run goes."""
    if not isinstance(config, ReinforceConfig):
        raise TypeError(f"train_reinforce: parameter 'config' must be a ReinforceConfig, "
                        f"got {type(config).__name__}")
    seed = check.seed("train_reinforce", seed)
    progress = check.flag("train_reinforce", "progress", progress)
    device = check.torch_device("train_reinforce", device)
    log = run_logger("train_reinforce", logger)
    made = env_factory(env, owner="train_reinforce")()
    env_id = env_name(made)
    actions = require_discrete("train_reinforce", made)
    obs_size = observation_size("train_reinforce", made)
    torch.manual_seed(seed)
    policy = agent_policy("train_reinforce", policy, obs_size, actions, device,
                          lambda: MLPActorCritic(obs_size, actions))
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    episodes, losses, step, episode_seed = [], [], 0, seed
    start = time.perf_counter()
    log.start("train_reinforce", env_id, 0, [])
    bar = tqdm(total=config.total_timesteps, desc=f"REINFORCE {env_id}", disable=not progress, unit="step")
    while step < config.total_timesteps:
        observations, actions, returns = [], [], []
        for _ in range(config.episodes_per_update):
            obs, _ = made.reset(seed=episode_seed)
            episode_seed += 1
            rewards, done = [], False
            while not done:
                x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                with torch.no_grad():
                    action = Categorical(logits=policy(x.unsqueeze(0))[0]).sample()
                obs, reward, terminated, truncated, _ = made.step(int(action))
                observations.append(x)
                actions.append(action)
                rewards.append(float(reward))
                done = terminated or truncated
            step += len(rewards)
            episodes.append((step, sum(rewards)))
            log.episode(step, sum(rewards))
            r = torch.tensor(rewards, device=device).unsqueeze(1)
            returns.append(discounted_returns(r, torch.zeros_like(r), config.gamma).squeeze(1))
        logits, values = policy(torch.stack(observations))
        g = torch.cat(returns)
        log_probs = Categorical(logits=logits).log_prob(torch.cat(actions))
        loss = -(log_probs * (g - values.detach())).mean() + config.vf_coef * (values - g).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        require_finite("train_reinforce", step, loss, policy)
        losses.append((step, float(loss.detach())))
        log.update(step, {"loss": float(loss.detach())})
        bar.n = min(step, config.total_timesteps)
        bar.refresh()
    bar.close()
    close_if_made(env, made)
    log.close()
    return TrainResult(episodes, policy, time.perf_counter() - start, step, losses,
                       Agent(policy, "reinforce", made.observation_space, made.action_space))
