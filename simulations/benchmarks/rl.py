"""Do neuroai's DQN and PPO run as fast as minimal plain-PyTorch versions, and learn as well?

For each algorithm the script runs neuroai's agent (:func:`neuroai.rl.train_dqn`,
:func:`neuroai.rl.train_ppo`, CleanRL's CartPole-v1 hyper-parameters) and a
minimal reference written here in plain PyTorch and gymnasium with the same
hyper-parameters (the structure of CleanRL's single-file ``dqn.py`` and
``ppo.py``: no truncation bootstrapping, episode returns from
``RecordEpisodeStatistics``), same seeds, one after the other in this
process. Reported per algorithm: environment steps per second (median over
seeds), the ratio neuroai/reference (target >= 1.0), steps to solve
(100-episode mean return >= 475; "-" if not within the budget) and the mean
return of the last 100 episodes (mean over seeds, and per seed). CleanRL's
published final returns after 500k steps are 488.7 (DQN) and 490.0 (PPO).

Usage: ``python simulations/benchmarks/rl.py [--quick] [--steps N] [--seeds K] [--first-seed S]
[--algorithms DQN PPO]``
(``--quick``: 20k steps, one seed, throughput only; the full run, 500k steps
and 3 seeds per side, takes on the order of an hour on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from neuroai.rl import DQNConfig, PPOConfig, TrainResult, train_dqn, train_ppo
from neuroai.rl.policies import MLPActorCritic


def reference_envs(n: int, seed: int):
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("CartPole-v1"))
                                     for _ in range(n)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    return envs, obs


def episode_returns(infos, step):
    final = infos.get("final_info", {})
    if "episode" not in final:
        return []
    return [(step, float(r)) for r, d in zip(final["episode"]["r"], final["_episode"]) if d]


def reference_dqn(c: DQNConfig, seed: int) -> TrainResult:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    envs, obs = reference_envs(1, seed)
    q = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    target = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=c.learning_rate)
    size = c.buffer_size
    b_obs, b_next = np.zeros((size, 4), np.float32), np.zeros((size, 4), np.float32)
    b_act, b_rew, b_done = np.zeros(size, np.int64), np.zeros(size, np.float32), np.zeros(size, np.float32)
    episodes, start = [], time.perf_counter()
    for step in range(c.total_timesteps):
        eps = max(c.end_epsilon, c.start_epsilon + (c.end_epsilon - c.start_epsilon) * step
                  / (c.exploration_fraction * c.total_timesteps))
        if rng.random() < eps:
            action = np.array([rng.integers(2)])
        else:
            action = q(torch.as_tensor(obs, dtype=torch.float32)).argmax(1).numpy()
        next_obs, reward, terminated, truncated, infos = envs.step(action)
        real_next = next_obs.copy()
        if "_final_obs" in infos:
            real_next[infos["_final_obs"]] = np.stack(infos["final_obs"][infos["_final_obs"]])
        i = step % size
        b_obs[i], b_next[i], b_act[i], b_rew[i], b_done[i] = obs[0], real_next[0], action[0], reward[0], terminated[0]
        episodes += episode_returns(infos, step)
        obs = next_obs
        if step >= c.learning_starts and step % c.train_frequency == 0:
            idx = rng.integers(0, min(step + 1, size), c.batch_size)
            with torch.no_grad():
                y = torch.as_tensor(b_rew[idx]) + c.gamma * target(torch.as_tensor(b_next[idx])).max(1).values \
                    * (1 - torch.as_tensor(b_done[idx]))
            pred = q(torch.as_tensor(b_obs[idx])).gather(1, torch.as_tensor(b_act[idx]).unsqueeze(1)).squeeze(1)
            loss = nn.functional.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step >= c.learning_starts and step % c.target_update == 0:
            target.load_state_dict(q.state_dict())
    return TrainResult(episodes, q, time.perf_counter() - start, c.total_timesteps)


def reference_ppo(c: PPOConfig, seed: int) -> TrainResult:
    torch.manual_seed(seed)
    envs, obs = reference_envs(c.num_envs, seed)
    agent = MLPActorCritic(4, 2)
    opt = torch.optim.Adam(agent.parameters(), lr=c.learning_rate, eps=1e-5)
    T, N = c.num_steps, c.num_envs
    obs = torch.as_tensor(obs, dtype=torch.float32)
    done = torch.zeros(N)
    episodes, step, start = [], 0, time.perf_counter()
    updates = c.total_timesteps // c.batch_size
    for update in range(updates):
        opt.param_groups[0]["lr"] = c.learning_rate * (1 - update / updates)
        b_obs, b_act = torch.zeros(T, N, 4), torch.zeros(T, N, dtype=torch.long)
        b_logp, b_rew, b_done, b_val = (torch.zeros(T, N) for _ in range(4))
        for t in range(T):
            with torch.no_grad():
                logits, value = agent(obs)
            dist = Categorical(logits=logits)
            action = dist.sample()
            next_obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            b_obs[t], b_act[t], b_logp[t], b_val[t], b_done[t] = obs, action, dist.log_prob(action), value, done
            b_rew[t] = torch.as_tensor(reward, dtype=torch.float32)
            step += N
            episodes += episode_returns(infos, step)
            obs, done = torch.as_tensor(next_obs, dtype=torch.float32), torch.as_tensor(terminated | truncated,
                                                                                         dtype=torch.float32)
        with torch.no_grad():
            next_value = agent(obs)[1]
            adv = torch.zeros(T, N)
            last = torch.zeros(N)
            for t in reversed(range(T)):
                nonterminal = 1.0 - (done if t == T - 1 else b_done[t + 1])
                following = next_value if t == T - 1 else b_val[t + 1]
                delta = b_rew[t] + c.gamma * following * nonterminal - b_val[t]
                last = delta + c.gamma * c.gae_lambda * nonterminal * last
                adv[t] = last
            ret = adv + b_val
        flat = [x.flatten(0, 1) for x in (b_obs, b_act, b_logp, adv, ret)]
        for _ in range(c.update_epochs):
            for idx in torch.randperm(c.batch_size).split(c.batch_size // c.num_minibatches):
                o, a, lp, ad, rt = (x[idx] for x in flat)
                logits, value = agent(o)
                dist = Categorical(logits=logits)
                ratio = (dist.log_prob(a) - lp).exp()
                ad = (ad - ad.mean()) / (ad.std() + 1e-8)
                pg = torch.max(-ad * ratio, -ad * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean()
                loss = pg + c.vf_coef * 0.5 * (value - rt).pow(2).mean() - c.ent_coef * dist.entropy().mean()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), c.max_grad_norm)
                opt.step()
    return TrainResult(episodes, agent, time.perf_counter() - start, step)


def fmt(value) -> str:
    return "-" if value is None else f"{value:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--algorithms", nargs="+", choices=("DQN", "PPO"), default=("DQN", "PPO"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = args.steps or (20_000 if args.quick else 500_000)
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 3)))
    runs = {
        "DQN": (lambda s: train_dqn(config=DQNConfig(total_timesteps=steps), seed=s, progress=False),
                lambda s: reference_dqn(DQNConfig(total_timesteps=steps), s)),
        "PPO": (lambda s: train_ppo(config=PPOConfig(total_timesteps=steps), seed=s, progress=False),
                lambda s: reference_ppo(PPOConfig(total_timesteps=steps), s)),
    }
    print(f"torch {torch.__version__}, gymnasium {gym.__version__}, {args.threads} thread(s); CartPole-v1, "
          f"{steps:,} steps, seeds {list(seeds)}\n")
    print("| algorithm | side | steps/s | ratio neuroai/reference | steps to solve (per seed) "
          "| last-100 mean return (per seed) |")
    print("|---|---|---|---|---|---|")
    for name in args.algorithms:
        ours, theirs = runs[name]
        results = {"neuroai": [ours(s) for s in seeds], "reference": [theirs(s) for s in seeds]}
        speed = {side: statistics.median(r.steps / r.seconds for r in rs) for side, rs in results.items()}
        for side, rs in results.items():
            solve = ", ".join(fmt(r.steps_to_solve(475.0)) for r in rs)
            finals = [float(np.mean(r.returns()[-100:])) if r.episodes else 0.0 for r in rs]
            last = f"{statistics.mean(finals):.1f} ({', '.join(f'{f:.0f}' for f in finals)})"
            ratio = f"{speed['neuroai'] / speed['reference']:.2f}" if side == "neuroai" else ""
            print(f"| {name} | {side} | {speed[side]:,.0f} | {ratio} | {solve} | {last} |", flush=True)


if __name__ == "__main__":
    main()
