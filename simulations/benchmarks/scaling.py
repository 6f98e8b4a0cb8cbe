"""How do wall time and peak memory grow with the size of a spiking network?

A recurrent LIF network of N neurons (dimensionless LIF, tau_m 20 ms,
threshold 1, reset 0, refractory 2 ms; dt 0.1 ms). Each neuron receives on
average 50 of 1,000 Poisson inputs at 15 Hz (weight 0.1) and K recurrent
synapses (``--in-degree``, default 1,000, cortical-like), 0.8 K excitatory
(+w) and 0.2 K inhibitory (-4 w) with a 1.5 ms delay, drawn independently
(connection probability K / N). The mean recurrent input is zero and
w = 0.2 / sqrt(K) holds its variance fixed, so every size and in-degree
fires at about the same rate (45-50 Hz, printed): time per neuron should
stay flat as N grows. N = 100,000 at K = 1,000 has 100 million recurrent
synapses.

For each size, each path runs in a fresh process and reports:

- *build*: seconds to describe the network in neuroai (connectivity drawn in
  time proportional to the synapses) and create the backend's objects;
- *sim*: seconds to simulate ``--duration`` (default 0.1 s = 1,000 steps).
  Brian2's compilation is excluded: a cython path first runs the same network
  at N = 1,000 for 2 ms in another process (the compiled code, which does not
  depend on N, is cached in ``~/.cython``), and C++ standalone's *sim* is the
  compiled program's own run time. NEST's *sim* includes the preparation of
  its first ``Simulate`` (its spike-routing tables, built from the synapses);
- *cores*: CPU seconds of the process during the run over its wall seconds
  (2.0: two cores busy throughout; not measured for C++ standalone, whose
  program runs in a child process);
- *memory*: peak resident memory (MB) beyond what the process held after
  importing everything (every backend, as building a Simulator imports them
  all): the process's ``ru_maxrss`` minus its resident memory after the
  imports. C++ standalone adds the peak of its compiled program, a child
  process, measured by a wrapper around the program (so the compiler, also a
  child, is not counted);
- spikes and the rate (Hz per neuron), and whether the spike trains are
  identical (same neuron, same step) to the reference's (the float32 torch
  path is for speed, not parity: it agrees only at small N).

Paths: neuroai's torch backend (float32, sparse recurrent projections, one
thread; CUDA too when available), neuroai's Brian2 backend (cython, and C++
standalone), neuroai's NEST backend (``iaf_psc_delta``, with 1 and 2 threads:
NEST's ``local_num_threads``) and a direct Brian2 script of the same network
(cython) fed the very same Poisson spikes, the reference: ``ratio`` is its sim
time over the path's (>= 1.0: as fast). Every other thread pool is held to one
thread (``OMP_NUM_THREADS=1``). The slopes of log(sim time) and log(memory)
against log(N) are fitted per path (1.0: linear in the size). After the table
come NEST's published scaling figures (:data:`PUBLISHED`).

Usage: ``python simulations/benchmarks/scaling.py [--quick]`` (``--quick``:
N = 2,000 and 5,000, about 2 minutes; default 10k, 30k, 100k, about 12 minutes
on 2 cores with a peak of about 13 GB in one cell). ``--sizes``, ``--in-degree``,
``--paths`` and ``--duration`` change the table; ``--plot FILE`` saves the
log-log figure.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

INPUTS, INPUTS_PER_NEURON, RATE, W_IN, DELAY = 1000, 50, 15.0, 0.1, 1.5e-3
WARM_UP_SIZE = 1_000

#: Runs ``argv[2:]``, writes that child's peak resident memory (``ru_maxrss``) to the file ``argv[1]``
#: and exits with its status: wrapped around the C++ standalone program, it measures the program alone.
PEAK_OF_CHILD = ("import resource, subprocess, sys; status = subprocess.call(sys.argv[2:]); "
                 "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
                 "sys.exit(status)")

#: NEST's published scaling results, quoted for the 1-million-neuron estimate printed after the table.
PUBLISHED = """\
NEST's published scaling (hpc_benchmark: balanced random network of 11,250 neurons per unit of scale, 11,250
synapses per neuron, 1.5 ms delay; microcircuit: Potjans & Diesmann 2014, ~77,000 neurons, ~0.3 billion synapses):
- Kunkel et al. 2014 (Front. Neuroinform. 8:78; RIKEN/Juelich press release 2013): 1.73 billion neurons and
  10.4 trillion synapses on the K computer (82,944 nodes, 705,024 cores): 40 minutes per second of biological
  time (real-time factor ~2,400).
- Jordan et al. 2018 (Front. Neuroinform. 12:2, the 5g kernel): JUQUEEN weak scaling with 22,500 neurons of
  11,250 synapses per node (1 MPI process x 64 threads), up to 0.65 billion neurons and 7.26 trillion synapses
  on 458,752 cores.
- Kurth et al. 2022 (Neuromorph. Comput. Eng. 2:021001): the microcircuit (NEST 2.14) faster than real time on
  one 128-core AMD EPYC Rome node, 1.7 times faster than real time on two.
- NEST 3.8/3.9 on JURECA-DC (2 MPI processes x 64 threads per node; "NEST performance benchmarks",
  nest-simulator.readthedocs.io): microcircuit faster than real time; hpc_benchmark weak scaling up to
  ~5.8 million neurons and ~65 billion synapses, with a real-time factor around 10 at 4 nodes
  (H. E. Plesser, nest-simulator PR #2989).
Estimate (extrapolated, not measured): 1 million neurons with 10,000 synapses each (10^10 synapses, 100 times
this table's largest network) is a cluster run: ~45 JUQUEEN-class nodes at Jordan et al.'s load per node, or
a handful of 128-core nodes at a real-time factor around 10 (about 10 s per simulated second, plus minutes
of network construction); near real time takes a few dozen such nodes (the microcircuit's ~0.3 billion
synapses need one to two for real time)."""


def weight(in_degree: int) -> float:
    """The excitatory recurrent weight (dimensionless) at ``in_degree`` recurrent synapses per neuron."""
    return 0.2 / np.sqrt(in_degree)


def network(n: int, seed: int = 0, in_degree: int = 1000):
    """The benchmark network of ``n`` neurons with ``in_degree`` recurrent synapses each (a neuroai Network)."""
    import neuroai as na

    k_exc, k_inh, w = 0.8 * in_degree, 0.2 * in_degree, weight(in_degree)
    net = na.Network(dt=1e-4)
    net.add_input("inp", INPUTS, na.PoissonRate(max_rate=RATE))
    net.add_population("pop", n, na.LIF(tau_m=20e-3, t_ref=2e-3), v_init=na.Uniform(0, 1, seed=seed))
    net.connect("inp", "pop", na.FixedProbability(INPUTS_PER_NEURON / INPUTS, seed=seed + 1), weight=W_IN)
    net.connect("pop", "pop", na.FixedProbability(min(1.0, k_exc / n), allow_self=False, seed=seed + 2),
                weight=w, sign="excitatory", delay=DELAY, name="exc")
    net.connect("pop", "pop", na.FixedProbability(min(1.0, k_inh / n), allow_self=False, seed=seed + 3),
                weight=4 * w, sign="inhibitory", delay=DELAY, name="inh")
    net.monitor("pop")
    return net


def rss_mb() -> float:
    """Resident memory of this process now, MB (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_mb()


def maxrss_mb(maxrss: int) -> float:
    """``ru_maxrss`` in MB (kilobytes on Linux, bytes on macOS)."""
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def digest(steps, indices) -> str:
    """A fingerprint of a spike train: equal exactly when the (step, neuron) pairs are equal."""
    steps, indices = np.asarray(steps, np.int64), np.asarray(indices, np.int64)
    order = np.lexsort((indices, steps))
    return hashlib.sha1(np.stack([steps[order], indices[order]]).tobytes()).hexdigest()


def recurrent_synapses(net) -> int:
    """The number of recurrent synapses drawn."""
    return sum(net.projections[name].n_synapses for name in ("exc", "inh"))


# --- one path, one size (in its own process) ----------------------------------------

def run_neuroai(n: int, duration: float, seed: int, in_degree: int, backend: str, options: dict) -> dict:
    import torch

    import neuroai as na

    torch.set_num_threads(1)
    na.backends.capabilities()  # imports every backend before the baseline (a Simulator's checks would)
    program_peak = None
    if options.get("target") == "cpp_standalone":
        import brian2 as b2

        program_peak = tempfile.NamedTemporaryFile(suffix=".maxrss", delete=False).name
        b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", PEAK_OF_CHILD, program_peak, "./main"]
    base = rss_mb()
    t0 = time.perf_counter()
    net = network(n, seed, in_degree)
    sim = na.Simulator(net, backend, seed=seed, **options)
    build = time.perf_counter() - t0
    cpu = time.process_time()
    result = sim.run(duration)
    cpu = time.process_time() - cpu
    standalone = hasattr(sim.runner, "program_seconds")
    seconds = sim.runner.program_seconds if standalone else result.wall_time  # standalone: the C++ program's run
    memory = peak_mb() - base
    if program_peak is not None:
        with open(program_peak) as f:
            memory += maxrss_mb(int(f.read()))
        os.remove(program_peak)
    spikes = result.spikes["pop"]
    return dict(build=build, sim=seconds, cores=None if standalone else cpu / result.wall_time,
                spikes=len(spikes.steps), digest=digest(spikes.steps, spikes.indices), memory=memory,
                synapses=recurrent_synapses(net))


def run_direct(n: int, duration: float, seed: int, in_degree: int) -> dict:
    """The same network written directly in Brian2 (cython), fed the same
    input spikes as neuroai's Simulator draws them."""
    import brian2 as b2

    import neuroai  # noqa: F401  (imported before the baseline, as the neuroai paths import it)

    b2.prefs.codegen.target = "cython"
    base = rss_mb()

    t0 = time.perf_counter()
    desc = network(n, seed, in_degree)  # connectivity, weights and initial state
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
    t1, cpu = time.perf_counter(), time.process_time()
    net.run(steps * dt)
    seconds, cpu = time.perf_counter() - t1, time.process_time() - cpu
    spike_steps = np.round(monitor.t_[:] / desc.dt).astype(np.int64)
    return dict(build=built, sim=seconds, cores=cpu / seconds, spikes=int(monitor.num_spikes),
                digest=digest(spike_steps, monitor.i[:]), memory=peak_mb() - base, synapses=recurrent_synapses(desc))


PATHS = {
    "neuroai torch (cpu)": lambda *a: run_neuroai(*a, "torch", {"device": "cpu"}),
    "neuroai torch (cuda)": lambda *a: run_neuroai(*a, "torch", {"device": "cuda"}),
    "neuroai brian2 (cython)": lambda *a: run_neuroai(*a, "brian2", {"target": "cython"}),
    "neuroai brian2 (cpp_standalone)": lambda *a: run_neuroai(*a, "brian2", {"target": "cpp_standalone"}),
    "neuroai nest (1 thread)": lambda *a: run_neuroai(*a, "nest", {"threads": 1}),
    "neuroai nest (2 threads)": lambda *a: run_neuroai(*a, "nest", {"threads": 2}),
    "direct brian2 (cython)": run_direct,
}
REFERENCE = "direct brian2 (cython)"


def measure(path: str, n: int, duration: float, seed: int, in_degree: int) -> dict:
    """Run ``path`` at size ``n`` in a fresh Python process; its result dict.
    Cython paths first run N = 1,000 for 2 ms in another process, which
    compiles and caches their code (standalone compiles in its run, outside *sim*)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = ([(WARM_UP_SIZE, 0.002)] if "cython" in path else []) + [(n, duration)]
    for size, length in runs:
        cmd = [sys.executable, __file__, "--one", path, str(size), "--duration", str(length), "--seed", str(seed),
               "--in-degree", str(in_degree)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return dict(error=proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(sizes, values) -> float:
    """Least-squares slope of log(value) against log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and 5,000 only")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="network sizes N")
    parser.add_argument("--in-degree", type=int, default=1000,
                        help="recurrent synapses per neuron K (default 1,000)")
    parser.add_argument("--duration", type=float, default=0.1, help="simulated seconds (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", nargs="+", choices=sorted(PATHS), default=None,
                        help="paths to time (default all; the direct Brian2 script always runs as the reference)")
    parser.add_argument("--plot", default=None, metavar="FILE", help="save the log-log figure here")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(PATHS[args.one[0]](int(args.one[1]), args.duration, args.seed, args.in_degree)))
        return
    import torch

    sizes = args.sizes or ([2_000, 5_000] if args.quick else [10_000, 30_000, 100_000])
    paths = [p for p in PATHS if (torch.cuda.is_available() or "cuda" not in p)
             and (args.paths is None or p in args.paths or p == REFERENCE)]
    print("# Scaling: wall time and peak memory vs network size\n")
    print(f"Python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs; "
          f"{args.duration} s simulated (dt 0.1 ms), {args.in_degree:,} recurrent synapses per neuron "
          f"(weight {weight(args.in_degree):.4g}), one process per cell; load average {os.getloadavg()[0]:.1f} "
          f"before the table (other work on the machine slows the cells, above all multi-threaded NEST).\n")
    print("| path | N | recurrent synapses | build (s) | sim (s) | cores | sim per neuron (us) | "
          "peak memory (MB) | spikes | rate (Hz) | same spikes | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
    results = {p: {} for p in paths}
    started = time.perf_counter()
    for n in sizes:
        for p in paths:
            results[p][n] = measure(p, n, args.duration, args.seed, args.in_degree)
        ref = results[REFERENCE][n]
        for p in paths:
            r = results[p][n]
            if "error" in r:
                print(f"| {p} | {n:,} | | failed: {r['error']} | | | | | | | | |")
                continue
            ratio = ref["sim"] / r["sim"] if "sim" in ref else float("nan")
            cores = "-" if r["cores"] is None else f"{r['cores']:.2f}"
            same = "-" if p == REFERENCE else "yes" if r["digest"] == ref.get("digest") else "no"
            print(f"| {p} | {n:,} | {r['synapses']:,} | {r['build']:.2f} | {r['sim']:.2f} | {cores} | "
                  f"{1e6 * r['sim'] / n:.1f} | {r['memory']:,.0f} | {r['spikes']:,} | "
                  f"{r['spikes'] / n / args.duration:.1f} | {same} | {ratio:.2f} |", flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s for the table; load average over its last 1, 5 and 15 "
          f"minutes: {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print("\nSlope of log(sim time) vs log(N) (1.0: linear), and of log(peak memory):")
    for p in paths:
        ok = [n for n in sizes if "sim" in results[p][n]]
        if len(ok) > 1:
            print(f"- {p}: {slope(ok, [results[p][n]['sim'] for n in ok]):.2f} "
                  f"(memory: {slope(ok, [max(results[p][n]['memory'], 1.0) for n in ok]):.2f})")
    nest, standalone = "neuroai nest (2 threads)", "neuroai brian2 (cpp_standalone)"
    if nest in results and standalone in results and "sim" in results[nest][sizes[-1]] \
            and "sim" in results[standalone][sizes[-1]]:
        a, b = results[nest][sizes[-1]]["sim"], results[standalone][sizes[-1]]["sim"]
        print(f"\nAt N = {sizes[-1]:,}: {nest} {a:.2f} s, {standalone} {b:.2f} s "
              f"(NEST {'as fast or faster' if a <= b else 'slower'}: {b / a:.2f}x).")
    print("\n" + PUBLISHED)
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 3.5), layout="constrained")
        ax_t, ax_m = fig.subplots(1, 2)
        for p in paths:
            ok = [n for n in sizes if "sim" in results[p][n]]
            ax_t.loglog(ok, [results[p][n]["sim"] for n in ok], "o-", label=p)
            ax_m.loglog(ok, [max(results[p][n]["memory"], 1.0) for n in ok], "o-", label=p)
        ax_t.set(xlabel="neurons", ylabel=f"wall time for {args.duration} s (s)")
        ax_m.set(xlabel="neurons", ylabel="peak memory beyond imports (MB)")
        ax_t.legend(frameon=False, fontsize="small")
        fig.savefig(args.plot, dpi=120)
        print(f"\nfigure: {args.plot}")


if __name__ == "__main__":
    main()
