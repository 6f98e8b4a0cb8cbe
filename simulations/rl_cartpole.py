"""Deep RL on CartPole: DQN, PPO, A2C, REINFORCE, a spiking PPO policy and an LSTM policy with hidden velocities.

Every agent of :mod:`neuroai.rl` learns CartPole-v1 (and, with ``--env
Acrobot-v1``, Acrobot: all but the masked-CartPole pair) from the same
seeds with its published hyper-parameters (CleanRL's for DQN and PPO,
rl-baselines3-zoo's for A2C):

- **DQN** (replay, target network) and **Double DQN**;
- **PPO** (GAE, 4 vectorized environments), **A2C** (8 environments,
  5-step returns), **REINFORCE** with a value baseline;
- **spiking PPO**: PPO training a policy of leaky integrate-and-fire neurons
  through the surrogate gradient (:class:`neuroai.rl.SpikingActorCritic`),
  at twice CleanRL's learning rate;
- **LSTM PPO on CartPole without velocities**: the cart and pole
  velocities are hidden, so a memoryless policy cannot balance well; an
  LSTM policy has to infer them from the history (the MLP PPO on the same
  masked task, with the same hyper-parameters, is the control). Both use
  rl-baselines3-zoo's RecurrentPPO settings for this task (CartPoleNoVel-v1):
  8 environments, 32-step rollouts, 20 epochs on the whole rollout.

For each agent: learning curves (mean and spread over seeds of the return
of the last 20 episodes against environment steps), environment steps and
wall time to solve (mean return of 100 consecutive training episodes >=
475 on CartPole, >= -100 on Acrobot), the mean return of the last 100
training episodes, and the greedy policy's mean return over 10 evaluation
episodes (:class:`neuroai.rl.Greedy`; the LSTM keeps its state through an
episode).

The (agent, seed) runs are cells of a :func:`neuroai.experiments.sweep`, run
side by side on a process pool (``--workers``, default one per CPU); a run
that fails is reported and the others go on.
"""
from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from neuroai.cli import count, script_main
from neuroai.experiments import RunRecord, grid, markdown_table, sweep
from neuroai.rl import (SOLVED, A2CConfig, DQNConfig, Greedy, LSTMActorCritic, MLPActorCritic, PPOConfig,
                        ReinforceConfig, SpikingActorCritic, evaluate, train_a2c, train_dqn, train_ppo,
                        train_reinforce)
from neuroai.rl.envs import env_factory

AGENTS = ("dqn", "double_dqn", "ppo", "a2c", "reinforce", "spiking_ppo", "lstm_ppo_masked", "mlp_ppo_masked")


#: PPO on the masked task (rl-baselines3-zoo's ppo_lstm hyper-parameters for CartPoleNoVel-v1, without its
#: observation and reward normalization): short rollouts, many epochs, a short horizon
MASKED_PPO = dict(num_envs=8, num_steps=32, num_minibatches=1, update_epochs=20, gamma=0.98, gae_lambda=0.8,
                  ent_coef=0.0, learning_rate=1e-3)


#: PPO for the spiking policy: twice CleanRL's learning rate (within 500k steps the LIF policy solved CartPole
#: on 4 of seeds 0-3 at 5e-4, on 1 of seeds 0-2 at 2.5e-4)
SPIKING_PPO = dict(learning_rate=5e-4)


@dataclass(frozen=True)
class Params:
    env: str = "CartPole-v1"
    steps: int = 500_000               # environment steps per run
    seeds: int = 3
    agents: tuple[str, ...] = AGENTS
    eval_episodes: int = 10
    curve_window: int = 20             # episodes averaged per point of the learning curves
    workers: int | None = None         # runs side by side (None: one per CPU)


QUICK = dict(steps=15_000, seeds=1, agents=("dqn", "ppo", "a2c", "spiking_ppo"), eval_episodes=3)


def add_arguments(parser) -> None:
    parser.add_argument("--env", choices=sorted(SOLVED), default=None)
    parser.add_argument("--steps", type=count, default=None, help="environment steps per run (default 500,000)")
    parser.add_argument("--seeds", type=count, default=None)
    parser.add_argument("--agents", nargs="+", choices=AGENTS, default=None)
    parser.add_argument("--workers", type=count, default=None, help="runs side by side (default: one per CPU)")


def train(agent: str, p: Params, seed: int):
    """One run; returns the TrainResult and the greedy action function of its policy."""
    torch.manual_seed(seed)  # the policies built here draw their weights before the trainer seeds torch
    common = dict(seed=seed, progress=False)
    if agent in ("dqn", "double_dqn"):
        result = train_dqn(p.env, DQNConfig(total_timesteps=p.steps, double=agent == "double_dqn"), **common)
        return result, lambda obs: result.model(obs).argmax(1)
    if agent == "a2c":
        result = train_a2c(p.env, A2CConfig(total_timesteps=p.steps), **common)
    elif agent == "reinforce":
        result = train_reinforce(p.env, ReinforceConfig(total_timesteps=p.steps), **common)
    else:
        policy = None
        masked = agent.endswith("_masked")
        env = env_factory(p.env, mask_velocity=masked)()
        obs_size, actions = env.observation_space.shape[0], int(env.action_space.n)
        env.close()
        if agent == "spiking_ppo":
            policy = SpikingActorCritic(obs_size, actions)
        elif agent == "lstm_ppo_masked":
            policy = LSTMActorCritic(obs_size, actions)
        elif agent == "mlp_ppo_masked":
            policy = MLPActorCritic(obs_size, actions)
        settings = MASKED_PPO if masked else SPIKING_PPO if agent == "spiking_ppo" else {}
        config = PPOConfig(total_timesteps=p.steps, **settings)
        result = train_ppo(p.env, config, policy=policy, mask_velocity=masked, **common)
    return result, Greedy(result.model)


def one_run(agent: str, seed: int, p: Params) -> dict:
    """Train ``agent`` from ``seed`` (one thread: small networks) and measure it."""
    torch.set_num_threads(1)
    result, act = train(agent, p, seed)
    greedy = float(evaluate(act, p.env, p.eval_episodes, seed=10_000 + seed,
                            mask_velocity=agent.endswith("_masked")).mean())
    print(f"{agent} seed {seed}: last-100 mean {result.returns()[-100:].mean():.1f}, "
          f"solved at {result.steps_to_solve(SOLVED[p.env])}, {result.seconds:.0f} s", flush=True)
    return {"episodes": result.episodes, "solved": result.steps_to_solve(SOLVED[p.env]), "greedy": greedy,
            "train seconds": result.seconds, "steps per second": result.steps / result.seconds,
            "last100": float(result.returns()[-100:].mean()),
            "spike rate": result.model.last_spike_rate if agent == "spiking_ppo" else None}


def curve(episodes: list[tuple[int, float]], window: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean return of the last ``window`` episodes) at every episode end."""
    steps = np.array([s for s, _ in episodes])
    returns = np.array([r for _, r in episodes], dtype=float)
    smooth = np.array([returns[max(0, k - window + 1):k + 1].mean() for k in range(len(returns))])
    return steps, smooth


def figure(curves: dict, p: Params) -> Figure:
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    grid = np.linspace(0, p.steps, 200)
    for i, (agent, runs) in enumerate(curves.items()):
        ys = np.array([np.interp(grid, s, r, left=np.nan) for s, r in runs if len(s)])
        if not len(ys):
            continue
        seen = np.isfinite(ys).any(axis=0)           # before its first episode ends a run has no point
        mean = np.nanmean(ys[:, seen], axis=0)
        ax.plot(grid[seen], mean, color=f"C{i}", label=agent)
        if len(ys) > 1:
            ax.fill_between(grid[seen], np.nanmin(ys[:, seen], axis=0), np.nanmax(ys[:, seen], axis=0),
                            color=f"C{i}", alpha=0.2)
    if p.env in SOLVED:
        ax.axhline(SOLVED[p.env], color="gray", ls=":", lw=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"return (mean of the last {p.curve_window} episodes)")
    ax.set_title(p.env)
    ax.legend(frameon=False, fontsize=8)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, env: str | None = None, steps: int | None = None,
        seeds: int | None = None, agents: list[str] | None = None, workers: int | None = None) -> dict:
    """Train every agent on every seed; returns per agent the steps to solve, final and greedy returns."""
    overrides = {k: v for k, v in dict(env=env, steps=steps, seeds=seeds, workers=workers,
                                       agents=tuple(agents) if agents else None).items() if v is not None}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **overrides})
    masked = [a for a in p.agents if a.endswith("_masked")]
    if masked and not p.env.startswith("CartPole"):
        if agents:
            raise ValueError(f"rl_cartpole: agents {masked} hide CartPole's velocities; they do not run on {p.env}")
        p = dataclasses.replace(p, agents=tuple(a for a in p.agents if a not in masked))
    threshold = SOLVED[p.env]
    record.write_config({**dataclasses.asdict(p), "quick": quick, "threshold": threshold}, seed)
    cells = [{**cell, "p": p} for cell in grid(agent=list(p.agents), seed=list(range(seed, seed + p.seeds)))]
    done = sweep(one_run, cells, executor="serial" if p.workers == 1 else "process", workers=p.workers,
                 progress=False)
    rows, curves, metrics = [], {}, []
    for agent in p.agents:
        runs = [r for r in done.rows if r["agent"] == agent and r["status"] == "ok"]
        if not runs:
            continue
        curves[agent] = [curve(r["episodes"], p.curve_window) for r in runs]
        metrics += [{"agent": agent, "seed": r["seed"], "step": st, "return": ret}
                    for r in runs for st, ret in r["episodes"]]
        hit = [r["solved"] for r in runs if r["solved"] is not None]
        greedy = [r["greedy"] for r in runs]
        rows.append({
            "agent": agent, "seeds solved": f"{len(hit)}/{len(runs)}",
            "steps to solve (mean)": statistics.mean(hit) if hit else "-",
            "wall time per run (s)": statistics.mean(r["train seconds"] for r in runs),
            "steps per second": statistics.mean(r["steps per second"] for r in runs),
            "last-100 mean return": statistics.mean(r["last100"] for r in runs),
            "greedy return": statistics.mean(greedy),
            "spikes per neuron and step": runs[-1]["spike rate"] if agent == "spiking_ppo" else "-",
        })
    failed = "".join(f"\n- {f['params']['agent']} seed {f['params']['seed']} failed: {f['error']}"
                     for f in done.failed)
    print(markdown_table(rows) + failed)
    record.write_metrics(metrics)
    record.save_figure(figure(curves, p), "rl_cartpole")
    record.write_summary(
        f"Deep RL on {p.env}", rows,
        f"{p.steps:,} environment steps per run, {p.seeds} seed(s) from {seed}; solved: mean return of 100 "
        f"consecutive training episodes >= {threshold}. Greedy return: {p.eval_episodes} evaluation episodes."
        f"{failed}\n\n![rl_cartpole](rl_cartpole.png)")
    return {row["agent"]: {k: v for k, v in row.items() if k != "agent"} for row in rows}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
