"""How do wall time and memory grow with the size of a spiking network?

A recurrent LIF network of N neurons (dimensionless LIF, tau_m 20 ms,
threshold 1, reset 0, refractory 2 ms; dt 0.1 ms), each neuron receiving
on average 50 of 1,000 Poisson inputs at 15 Hz (weight 0.1) and 100
recurrent synapses, 80 excitatory (+0.02) and 20 inhibitory (-0.08), with a
1.5 ms delay: 100 synapses per neuron, so N = 100,000 has 10 million
recurrent synapses. Drive and recurrence are balanced so every size fires
at the same rate (~40 Hz), and time per neuron should stay flat.

For each size, each path runs in a fresh process (so its peak memory is its
own) and reports:

- *build*: seconds to describe the network in neuroai (connectivity drawn in
  time proportional to the synapses) and create the backend's objects;
- *sim*: seconds to simulate ``--duration`` (default 0.1 s = 1,000 steps),
  Brian2's compilation excluded (a warm-up process first runs the same
  network for 2 ms; the compiled code is cached in ``~/.cython``);
- *memory*: resident memory of the process after the run, with the network
  alive, beyond what it held after importing everything (MB);
- spikes, to check that the paths simulated the same thing.

Paths: neuroai's torch backend (float32, sparse recurrent projections,
one thread; CUDA too when available), neuroai's Brian2 backend (cython, and
C++ standalone, whose *sim* is the compiled program's own run time and
whose memory includes the program's results read back), and a direct Brian2 script of the same network (cython) fed the very same
Poisson spikes; ``ratio`` is the direct script's sim time over the path's
(>= 1.0: as fast). The slope of log(sim time) against log(N) is fitted per
path (1.0: linear in the size).

Usage: ``python simulations/benchmarks/scaling.py [--quick]`` (``--quick``:
N = 1,000 and 10,000, about a minute; default 1k, 3k, 10k, 30k, 100k).
``--plot FILE`` saves the log-log figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

INPUTS, IN_DEGREE, RATE = 1000, 50, 15.0
K_EXC, K_INH, W_IN, W_EXC, W_INH, DELAY = 80, 20, 0.1, 0.02, 0.08, 1.5e-3


def network(n: int, seed: int = 0):
    """The benchmark network of ``n`` neurons (a neuroai Network)."""
    import neuroai as na

    net = na.Network(dt=1e-4)
    net.add_input("inp", INPUTS, na.PoissonRate(max_rate=RATE))
    net.add_population("pop", n, na.LIF(tau_m=20e-3, t_ref=2e-3), v_init=na.Uniform(0, 1, seed=seed))
    net.connect("inp", "pop", na.FixedProbability(IN_DEGREE / INPUTS, seed=seed + 1), weight=W_IN)
    net.connect("pop", "pop", na.FixedProbability(min(1.0, K_EXC / n), allow_self=False, seed=seed + 2),
                weight=W_EXC, sign="excitatory", delay=DELAY, name="exc")
    net.connect("pop", "pop", na.FixedProbability(min(1.0, K_INH / n), allow_self=False, seed=seed + 3),
                weight=W_INH, sign="inhibitory", delay=DELAY, name="inh")
    net.monitor("pop")
    return net


def rss_mb() -> float:
    """Resident memory of this process now, MB (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# --- one path, one size (in its own process) ----------------------------------------

def run_neuroai(n: int, duration: float, seed: int, backend: str, options: dict) -> dict:
    import torch

    import neuroai as na

    torch.set_num_threads(1)
    na.backends.load(backend)  # imported before the baseline, as the direct script imports Brian2
    base = rss_mb()
    t0 = time.perf_counter()
    sim = na.Simulator(network(n, seed), backend, seed=seed, **options)
    build = time.perf_counter() - t0
    result = sim.run(duration)
    seconds = getattr(sim.runner, "program_seconds", result.wall_time)  # standalone: the C++ program's run alone
    return dict(build=build, sim=seconds, spikes=len(result.spikes["pop"].steps), memory=rss_mb() - base)


def run_direct(n: int, duration: float, seed: int) -> dict:
    """The same network written directly in Brian2 (cython), fed the same
    input spikes as neuroai's Simulator draws them."""
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    base = rss_mb()

    t0 = time.perf_counter()
    desc = network(n, seed)  # connectivity, weights and initial state
    dt = desc.dt * b2.second
    group = b2.NeuronGroup(n, "dv/dt = -v/tau_m : 1 (unless refractory)", threshold="v > 1",
                           reset="v = 0", refractory=2 * b2.ms, method="exact", dt=dt,
                           namespace={"tau_m": 20 * b2.ms})
    group.v = desc.populations["pop"].v_init
    source = b2.SpikeGeneratorGroup(INPUTS, [], [] * b2.second, dt=dt)
    synapses = []
    for name, src, sign in (("inp_to_pop", source, 1.0), ("exc", group, 1.0), ("inh", group, -1.0)):
        proj = desc.projections[name]
        syn = b2.Synapses(src, group, "w : 1", on_pre="v_post += w", dt=dt,
                          delay=proj.delay_steps * dt)
        syn.connect(i=proj.pre_idx, j=proj.post_idx)
        syn.w = sign * proj.weights
        synapses.append(syn)
    monitor = b2.SpikeMonitor(group)
    steps = int(round(duration / desc.dt))
    rng = np.random.default_rng(seed)
    raster = desc.inputs["inp"].encoder.encode(np.ones(INPUTS), steps, desc.dt, rng)
    t_idx, i_idx = np.nonzero(raster)
    source.set_spikes(i_idx, t_idx * dt)
    net = b2.Network(group, source, *synapses, monitor)
    built = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(steps * dt)
    return dict(build=built, sim=time.perf_counter() - t1, spikes=int(monitor.num_spikes), memory=rss_mb() - base)


PATHS = {
    "neuroai torch (cpu)": lambda n, d, s: run_neuroai(n, d, s, "torch", {"device": "cpu"}),
    "neuroai torch (cuda)": lambda n, d, s: run_neuroai(n, d, s, "torch", {"device": "cuda"}),
    "neuroai brian2 (cython)": lambda n, d, s: run_neuroai(n, d, s, "brian2", {"target": "cython"}),
    "neuroai brian2 (cpp_standalone)": lambda n, d, s: run_neuroai(n, d, s, "brian2", {"target": "cpp_standalone"}),
    "direct brian2 (cython)": run_direct,
}
REFERENCE = "direct brian2 (cython)"


def measure(path: str, n: int, duration: float, seed: int) -> dict:
    """Run ``path`` at size ``n`` in a fresh Python process; its result dict.
    Cython paths first run 2 ms in another process, which compiles and
    caches their code (standalone compiles in its run, outside *sim*)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    for length in ([0.002] if "cython" in path else []) + [duration]:
        cmd = [sys.executable, __file__, "--one", path, str(n), "--duration", str(length), "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return dict(error=proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(sizes, times) -> float:
    """Least-squares slope of log(time) against log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000 only")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="network sizes N")
    parser.add_argument("--duration", type=float, default=0.1, help="simulated seconds (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", nargs="+", choices=sorted(PATHS), default=None,
                        help="paths to time (default all; the direct Brian2 script always runs as the reference)")
    parser.add_argument("--plot", default=None, metavar="FILE", help="save the log-log figure here")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(PATHS[args.one[0]](int(args.one[1]), args.duration, args.seed)))
        return
    import torch

    sizes = args.sizes or ([1_000, 10_000] if args.quick else [1_000, 3_000, 10_000, 30_000, 100_000])
    paths = [p for p in PATHS if (torch.cuda.is_available() or "cuda" not in p)
             and (args.paths is None or p in args.paths or p == REFERENCE)]
    print("# Scaling: wall time and memory vs network size\n")
    print(f"Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs; "
          f"{args.duration} s simulated (dt 0.1 ms), 100 recurrent synapses per neuron, one process per cell.\n")
    print("| path | N | synapses | build (s) | sim (s) | sim per neuron (us) | memory (MB) | spikes | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = {p: {} for p in paths}
    for n in sizes:
        for p in paths:
            results[p][n] = measure(p, n, args.duration, args.seed)
        ref = results[REFERENCE][n]
        for p in paths:
            r = results[p][n]
            if "error" in r:
                print(f"| {p} | {n:,} | | failed: {r['error']} | | | | | |")
                continue
            ratio = ref["sim"] / r["sim"] if "sim" in ref else float("nan")
            print(f"| {p} | {n:,} | {n * (K_EXC + K_INH):,} | {r['build']:.2f} | {r['sim']:.2f} | "
                  f"{1e6 * r['sim'] / n:.1f} | {r['memory']:.0f} | {r['spikes']:,} | {ratio:.2f} |", flush=True)
    print("\nSlope of log(sim time) vs log(N) (1.0: linear):")
    for p in paths:
        ok = [n for n in sizes if "sim" in results[p][n]]
        if len(ok) > 1:
            print(f"- {p}: {slope(ok, [results[p][n]['sim'] for n in ok]):.2f} "
                  f"(memory: {slope(ok, [max(results[p][n]['memory'], 1.0) for n in ok]):.2f})")
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 3.5), layout="constrained")
        ax_t, ax_m = fig.subplots(1, 2)
        for p in paths:
            ok = [n for n in sizes if "sim" in results[p][n]]
            ax_t.loglog(ok, [results[p][n]["sim"] for n in ok], "o-", label=p)
            ax_m.loglog(ok, [max(results[p][n]["memory"], 1.0) for n in ok], "o-", label=p)
        ax_t.set(xlabel="neurons", ylabel=f"wall time for {args.duration} s (s)")
        ax_m.set(xlabel="neurons", ylabel="memory beyond imports (MB)")
        ax_t.legend(frameon=False, fontsize="small")
        fig.savefig(args.plot, dpi=120)
        print(f"\nfigure: {args.plot}")


if __name__ == "__main__":
    main()
