"""Continuous control: PPO with a Gaussian policy, SAC and a spiking Gaussian policy against rl-baselines3-zoo.

Each agent trains on a classic-control task with continuous actions
(Pendulum-v1 by default, or MountainCarContinuous-v0 with ``--env``) for the
number of environment steps rl-baselines3-zoo's benchmark table gives its
algorithm there, from several seeds; the trained agent (its deterministic
action: the Gaussian's mean, SAC's ``tanh`` of its mean) is then evaluated on
``eval_episodes`` fresh episodes (seeds 10,000 + k), as the zoo's benchmark
evaluates its agents. The table compares each seed's mean return with the
zoo's published figure (benchmark.md of DLR-RM/rl-baselines3-zoo: one
trained agent per algorithm, evaluated over about 150,000 steps).

- **ppo**: :func:`neuroai.rl.train_ppo` with :class:`neuroai.rl.GaussianActorCritic` exploring with gSDE
  (state-dependent noise, ``state_dependent=True``) and the zoo's hyper-parameters for the environment
  (``PPO`` and ``POLICY`` below: on Pendulum rollouts of 4 x 1,024 steps, gamma 0.9, 10 epochs of
  minibatches of 64, learning rate 1e-3, the noise redrawn every 4 steps; on MountainCarContinuous one
  environment, rollouts of 8 steps, gamma 0.9999, observations and rewards normalized, an initial log
  standard deviation of -3.29), run as Stable-Baselines3 runs it (whole rollouts until the budget: on Pendulum
  25 x 4,096 = 102,400 steps). One change on Pendulum: the learning rate anneals linearly to 0 (the zoo's is
  constant). At the zoo's constant rate the runs end at uneven policies (seeds 10-12: -146.1, -155.5, -139.5;
  seeds 0-2: -160.0, -158.1, -208.1, one behind the zoo's -172.2); annealed, seeds 10-14 (20 evaluation
  episodes, chosen before the reported seeds were rerun) ended at -138.7, -147.4, -139.0, -138.5, -138.4.
- **sac**: :func:`neuroai.rl.train_sac` with the zoo's setting for the environment (``SAC`` below: on
  Pendulum Stable-Baselines3's defaults at learning rate 1e-3; on MountainCarContinuous gSDE, 64 x 64
  networks, a fixed temperature of 0.1, 32 updates every 32 steps).
- **spiking_ppo**: the same PPO training :class:`neuroai.rl.SpikingGaussianActorCritic`,
  leaky integrate-and-fire neurons (8 steps per decision) whose spike rates
  are read out as the Gaussian's mean, through a surrogate gradient, gSDE's noise drawn on the spike rates.

The (agent, seed) runs are cells of a :func:`neuroai.experiments.sweep`, run
side by side on a process pool (``--workers``, default one per CPU).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from neuroai.cli import count, script_main
from neuroai.experiments import RunRecord, grid, markdown_table, sweep
from neuroai.rl import (GaussianActorCritic, PPOConfig, SACConfig, SpikingGaussianActorCritic, train_ppo,
                        train_sac)

AGENTS = ("ppo", "sac", "spiking_ppo")
ENVS = ("Pendulum-v1", "MountainCarContinuous-v0")

#: rl-baselines3-zoo's benchmark.md: (mean return, its standard deviation over evaluation episodes,
#: training steps) of its trained agent, by algorithm and environment
ZOO = {("ppo", "Pendulum-v1"): (-172.225, 104.159, 100_000), ("sac", "Pendulum-v1"): (-156.995, 88.714, 20_000),
       ("ppo", "MountainCarContinuous-v0"): (88.343, 2.572, 20_000),
       ("sac", "MountainCarContinuous-v0"): (94.679, 1.134, 50_000)}

#: rl-baselines3-zoo's hyper-parameters (hyperparams/ppo.yml, sac.yml) by environment: PPO's (PPOConfig fields),
#: its policy's (GaussianActorCritic arguments, the zoo's normalize and policy_kwargs) and SAC's (SACConfig fields).
#: PPO's vf_coef is twice the zoo's: Stable-Baselines3's value loss is the squared error's mean, train_ppo's half it.
PPO = {"Pendulum-v1": dict(num_envs=4, num_steps=1024, gamma=0.9, gae_lambda=0.95, update_epochs=10,
                           num_minibatches=64, ent_coef=0.0, learning_rate=1e-3, clip_coef=0.2, anneal_lr=True,
                           vf_coef=1.0, sde_sample_freq=4),
       "MountainCarContinuous-v0": dict(num_envs=1, num_steps=8, num_minibatches=1, gamma=0.9999, gae_lambda=0.9,
                                        update_epochs=10, ent_coef=0.00429, learning_rate=7.77e-5, clip_coef=0.1,
                                        anneal_lr=False, max_grad_norm=5.0, vf_coef=0.38, normalize_rewards=True)}
POLICY = {"Pendulum-v1": dict(normalize=False, state_dependent=True),
          "MountainCarContinuous-v0": dict(normalize=True, state_dependent=True, log_std_init=-3.29,
                                           ortho_init=False)}
SAC = {"Pendulum-v1": dict(learning_rate=1e-3),
       "MountainCarContinuous-v0": dict(buffer_size=50_000, batch_size=512, ent_coef=0.1, train_freq=32,
                                        gradient_steps=32, gamma=0.9999, tau=0.01, learning_starts=0,
                                        hidden=(64, 64), state_dependent=True, log_std_init=-3.67)}


@dataclass(frozen=True)
class Params:
    env: str = "Pendulum-v1"
    seeds: int = 3
    agents: tuple[str, ...] = AGENTS
    steps: int | None = None           # environment steps per run (None: the zoo's for each algorithm)
    eval_episodes: int = 100
    workers: int | None = None         # runs side by side (None: one per CPU)


QUICK = dict(seeds=1, steps=1600, eval_episodes=2)   # (PPO on Pendulum: 4 x 400 steps, two episodes each)


def add_arguments(parser) -> None:
    parser.add_argument("--env", choices=ENVS, default=None)
    parser.add_argument("--steps", type=count, default=None, help="environment steps per run (default: the zoo's)")
    parser.add_argument("--seeds", type=count, default=None)
    parser.add_argument("--agents", nargs="+", choices=AGENTS, default=None)
    parser.add_argument("--workers", type=count, default=None, help="runs side by side (default: one per CPU)")


def budget(agent: str, p: Params) -> int:
    """Environment steps asked of a run: ``p.steps``, else the zoo's for the agent's algorithm on ``p.env`` (PPO
    then runs whole rollouts until it has taken at least as many)."""
    return p.steps if p.steps is not None else ZOO[("sac" if agent == "sac" else "ppo", p.env)][2]


def train(agent: str, p: Params, seed: int):
    """One run; returns its TrainResult."""
    steps = budget(agent, p)
    if agent == "sac":
        return train_sac(p.env, SACConfig(total_timesteps=steps, **SAC[p.env]), seed=seed, progress=False)
    settings = PPO[p.env]
    settings = {**settings, "num_steps": min(settings["num_steps"], steps // settings["num_envs"])}
    rollout = settings["num_envs"] * settings["num_steps"]
    # as Stable-Baselines3, whole rollouts until the budget is reached (the zoo's 100,000: 25 x 4,096 = 102,400)
    config = PPOConfig(total_timesteps=math.ceil(steps / rollout) * rollout, **settings)
    torch.manual_seed(seed)   # (the policy draws its weights before the trainer seeds torch)
    return train_ppo(p.env, config, policy=ppo_policy(agent, p.env), seed=seed, progress=False)


def ppo_policy(agent: str, env_id: str):
    """The policy PPO trains: the zoo's Gaussian, or the spiking one with the same exploration (its input layer
    keeps the strong orthogonal initialization that makes its neurons fire from the start)."""
    if agent == "spiking_ppo":
        options = {k: v for k, v in POLICY[env_id].items() if k != "ortho_init"}
        return SpikingGaussianActorCritic(*_sizes(env_id), **options)
    return GaussianActorCritic(*_sizes(env_id), **POLICY[env_id])


def _sizes(env_id: str) -> tuple[int, int]:
    import gymnasium as gym

    env = gym.make(env_id)
    sizes = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    return sizes


def evaluate_agent(agent, env_id: str, episodes: int) -> np.ndarray:
    """Returns of ``episodes`` episodes (seeds 10,000 + k) of the agent's deterministic actions."""
    import gymnasium as gym

    env, returns = gym.make(env_id), []
    for k in range(episodes):
        obs, _ = env.reset(seed=10_000 + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=True)[0])
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return np.array(returns)


def one_run(agent: str, seed: int, p: Params) -> dict:
    """Train ``agent`` from ``seed`` (one thread: small networks), then evaluate it."""
    torch.set_num_threads(1)
    result = train(agent, p, seed)
    returns = evaluate_agent(result.agent, p.env, p.eval_episodes)
    print(f"{agent} seed {seed}: evaluation {returns.mean():.1f} +- {returns.std():.1f} after {result.steps:,} "
          f"steps, {result.seconds:.0f} s", flush=True)
    return {"episodes": result.episodes, "eval mean": float(returns.mean()), "eval std": float(returns.std()),
            "steps": result.steps, "train seconds": result.seconds,
            "spike rate": result.model.last_spike_rate if agent == "spiking_ppo" else None}


def figure(done_rows: list[dict], p: Params) -> Figure:
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, agent in enumerate(p.agents):
        for k, r in enumerate(r for r in done_rows if r["agent"] == agent and r["status"] == "ok"):
            steps = [s for s, _ in r["episodes"]]
            returns = np.array([v for _, v in r["episodes"]])
            smooth = np.convolve(returns, np.ones(10) / 10, mode="valid") if len(returns) >= 10 else returns
            ax.plot(steps[len(steps) - len(smooth):], smooth, color=f"C{i}", alpha=0.8,
                    label=agent if k == 0 else None)
    ax.set_xscale("log")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return (mean of 10 training episodes)")
    ax.set_title(p.env)
    ax.legend(frameon=False, fontsize=8)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, env: str | None = None, steps: int | None = None,
        seeds: int | None = None, agents: list[str] | None = None, workers: int | None = None) -> dict:
    """Train every agent on every seed and evaluate it; returns per agent and seed the evaluation and the
    zoo's figure."""
    overrides = {k: v for k, v in dict(env=env, steps=steps, seeds=seeds, workers=workers,
                                       agents=tuple(agents) if agents else None).items() if v is not None}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **overrides})
    record.write_config({**dataclasses.asdict(p), "quick": quick, "ppo": PPO[p.env], "policy": POLICY[p.env],
                         "sac": SAC[p.env]}, seed)
    cells = [{**cell, "p": p} for cell in grid(agent=list(p.agents), seed=list(range(seed, seed + p.seeds)))]
    done = sweep(one_run, cells, executor="serial" if p.workers == 1 else "process", workers=p.workers,
                 progress=False)
    rows, metrics, out = [], [], {}
    for agent in p.agents:
        zoo_mean, zoo_std, zoo_steps = ZOO.get(("sac" if agent == "sac" else "ppo", p.env), (None, None, None))
        runs = sorted((r for r in done.rows if r["agent"] == agent and r["status"] == "ok"), key=lambda r: r["seed"])
        for r in runs:
            metrics += [{"agent": agent, "seed": r["seed"], "step": s, "return": v} for s, v in r["episodes"]]
            rows.append({"agent": agent, "seed": r["seed"], "steps": r["steps"],
                         "evaluation return (mean)": r["eval mean"], "evaluation return (std)": r["eval std"],
                         "zoo (same algorithm, steps)": "-" if zoo_mean is None else f"{zoo_mean} at {zoo_steps:,}",
                         "at least the zoo's": "-" if zoo_mean is None else "yes" if r["eval mean"] >= zoo_mean
                         else "no",
                         "train seconds": r["train seconds"],
                         "spikes per neuron and step": "-" if r["spike rate"] is None else r["spike rate"]})
        if runs:
            out[agent] = {"evaluation returns": [r["eval mean"] for r in runs],
                          "mean": statistics.mean(r["eval mean"] for r in runs), "zoo": zoo_mean,
                          "steps": runs[0]["steps"]}
    failed = "".join(f"\n- {f['params']['agent']} seed {f['params']['seed']} failed: {f['error']}"
                     for f in done.failed)
    print(markdown_table(rows) + failed)
    record.write_metrics(metrics)
    record.save_figure(figure(done.rows, p), "continuous_control")
    record.write_summary(
        f"Continuous control on {p.env}", rows,
        f"{p.seeds} seed(s) from {seed}; evaluation: the deterministic action over {p.eval_episodes} episodes "
        f"(seeds 10,000 + k); zoo: rl-baselines3-zoo's benchmark table.{failed}\n\n"
        f"![continuous_control](continuous_control.png)")
    return out


if __name__ == "__main__":
    raise SystemExit(script_main(run))
