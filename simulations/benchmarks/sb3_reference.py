"""Stable-Baselines3 itself against neuroai's continuous-control agents, seed by seed.

rl-baselines3-zoo's benchmark table (``ZOO`` in simulations/continuous_control.py)
gives one trained agent per algorithm and environment. What an implementation
can be expected to reach is a distribution over seeds: on
MountainCarContinuous-v0 PPO either finds the flag within its 20,000 steps
(return about 90) or never does (about 0 or below). This script trains
Stable-Baselines3's PPO and SAC with the zoo's hyper-parameters (``SB3``
below: hyperparams/ppo.yml and sac.yml of rl-baselines3-zoo, in SB3's own
words, observations and rewards normalized by ``VecNormalize`` with the
algorithm's gamma where the zoo says ``normalize``) and neuroai's agents as
simulations/continuous_control.py trains them, from the same seeds, for the
zoo's number of environment steps, and evaluates every agent the same way
(``continuous_control.evaluate_agent``: the deterministic action, episodes
seeded 10,000 + k, observation statistics frozen).

Printed: each seed's evaluation return on both sides, then per agent and side
the mean, median and lowest return over seeds, how many seeds reach the zoo's
figure, and a two-sided Mann-Whitney U test of "the two sides' returns come
from the same distribution".

Needs Stable-Baselines3: ``pip install -e ".[sb3]"``.
Usage: ``python simulations/benchmarks/sb3_reference.py [--env ENV] [--agents ppo sac] [--seeds K]
[--first-seed S] [--eval-episodes N] [--workers W]`` (default: MountainCarContinuous-v0, PPO, 10 seeds from
10, 10 episodes; about 10 minutes on 2 CPU cores for PPO; SAC takes 4 to 10 minutes per seed and side).
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from scipy.stats import mannwhitneyu

from neuroai.cli import count, load
from neuroai.experiments import grid, markdown_table, sweep

study = load("continuous_control")

#: rl-baselines3-zoo's hyper-parameters as Stable-Baselines3 takes them: (SB3 algorithm, environments,
#: VecNormalize or not, keyword arguments of the algorithm).
SB3 = {("ppo", "Pendulum-v1"): ("PPO", 4, False, dict(
           n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2,
           use_sde=True, sde_sample_freq=4)),
       ("sac", "Pendulum-v1"): ("SAC", 1, False, dict(learning_rate=1e-3)),
       ("ppo", "MountainCarContinuous-v0"): ("PPO", 1, True, dict(
           batch_size=256, n_steps=8, gamma=0.9999, learning_rate=7.77e-5, ent_coef=0.00429, clip_range=0.1,
           n_epochs=10, gae_lambda=0.9, max_grad_norm=5, vf_coef=0.19, use_sde=True,
           policy_kwargs=dict(log_std_init=-3.29, ortho_init=False))),
       ("sac", "MountainCarContinuous-v0"): ("SAC", 1, False, dict(
           learning_rate=3e-4, buffer_size=50_000, batch_size=512, ent_coef=0.1, train_freq=32, gradient_steps=32,
           gamma=0.9999, tau=0.01, learning_starts=0, use_sde=True,
           policy_kwargs=dict(log_std_init=-3.67, net_arch=[64, 64], use_expln=True)))}


class SB3Agent:
    """A trained Stable-Baselines3 model with the observation statistics it trained on, frozen, behind the
    ``predict(observation, deterministic)`` that ``evaluate_agent`` calls."""

    def __init__(self, model, normalization=None):
        self.model, self.normalization = model, normalization

    def predict(self, observation, deterministic: bool = True):
        if self.normalization is not None:
            observation = self.normalization.normalize_obs(observation[None])[0]
        return self.model.predict(observation, deterministic=deterministic)


def train_sb3(agent: str, env_id: str, seed: int, steps: int) -> SB3Agent:
    import stable_baselines3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    algorithm, n_envs, normalize, kwargs = SB3[(agent, env_id)]
    envs = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if normalize:
        envs = VecNormalize(envs, gamma=kwargs["gamma"])
    with warnings.catch_warnings():   # (the zoo's PPO minibatch of 256 exceeds its rollout of 8: SB3 says so)
        warnings.filterwarnings("ignore", message="You have specified a mini-batch size")
        model = getattr(stable_baselines3, algorithm)("MlpPolicy", envs, seed=seed, device="cpu", **kwargs)
    model.learn(steps)
    return SB3Agent(model, envs if normalize else None)


def one_seed(side: str, agent: str, seed: int, p) -> dict:
    """Train one side's agent from ``seed`` (one thread) and evaluate it."""
    if side == "neuroai":
        result = study.one_run(agent, seed, p)
        return {"eval mean": result["eval mean"], "train seconds": result["train seconds"]}
    torch.set_num_threads(1)
    start = time.perf_counter()
    trained = train_sb3(agent, p.env, seed, study.budget(agent, p))
    seconds = time.perf_counter() - start
    returns = study.evaluate_agent(trained, p.env, p.eval_episodes)
    print(f"SB3 {agent} seed {seed}: evaluation {returns.mean():.1f} +- {returns.std():.1f}, {seconds:.0f} s",
          flush=True)
    return {"eval mean": float(returns.mean()), "train seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=study.ENVS, default="MountainCarContinuous-v0")
    parser.add_argument("--agents", nargs="+", choices=("ppo", "sac"), default=["ppo"])
    parser.add_argument("--seeds", type=count, default=10)
    parser.add_argument("--first-seed", type=int, default=10)
    parser.add_argument("--eval-episodes", type=count, default=10)
    parser.add_argument("--workers", type=count, default=None, help="runs side by side (default: one per CPU)")
    args = parser.parse_args()
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        raise SystemExit('sb3_reference: needs Stable-Baselines3: pip install -e ".[sb3]"') from None

    p = study.Params(env=args.env, eval_episodes=args.eval_episodes)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    cells = [{**cell, "p": p} for cell in grid(agent=args.agents, seed=seeds, side=["neuroai", "SB3"])]
    done = sweep(one_seed, cells, workers=args.workers, progress=False)
    ok = [r for r in done.rows if r["status"] == "ok"]
    returns = {(r["side"], r["agent"], r["seed"]): r["eval mean"] for r in ok}
    seconds = {(r["side"], r["agent"], r["seed"]): r["train seconds"] for r in ok}
    per_seed, summary = [], []
    for agent in args.agents:
        zoo = study.ZOO[(agent, args.env)][0]
        per_seed += [{"agent": agent, "seed": s, "neuroai": returns.get(("neuroai", agent, s), "failed"),
                      "SB3": returns.get(("SB3", agent, s), "failed"), "zoo": zoo,
                      "neuroai train s": seconds.get(("neuroai", agent, s), "-"),
                      "SB3 train s": seconds.get(("SB3", agent, s), "-")} for s in seeds]
        sides = {side: [returns[(side, agent, s)] for s in seeds if (side, agent, s) in returns]
                 for side in ("neuroai", "SB3")}
        test = mannwhitneyu(sides["neuroai"], sides["SB3"]) if all(sides.values()) else None
        for side, values in sides.items():
            if values:
                summary.append({"agent": agent, "side": side, "seeds": len(values), "mean": statistics.mean(values),
                                "median": statistics.median(values), "lowest": min(values),
                                "at least the zoo's": f"{sum(v >= zoo for v in values)} of {len(values)}",
                                "Mann-Whitney p": "-" if test is None else test.pvalue})
    print(f"\n{args.env}: evaluation return per seed ({args.eval_episodes} episodes each, deterministic actions)\n")
    print(markdown_table(per_seed))
    print("\nOver seeds (zoo: rl-baselines3-zoo's benchmark table, one agent)\n")
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
