"""How fast does neuroai train the Diehl & Cook (2015) STDP circuit?

Images per second of unsupervised STDP training on scikit-learn's digits
(64 inputs, pixels in [0, 1]; ``DiehlCook(n_neurons=100, max_rate=...)``:
dt 0.5 ms, 350 ms on, 150 ms off per image), three ways:

1. **neuroai, Brian2 backend** (cython): ``diehl_cook.train(config, images,
   backend="brian2", target="cython", chunk=...)``.
2. **Hand-written Brian2** (cython): the same circuit written directly as
   NeuronGroups and Synapses with the same equations, pair STDP in
   ``on_pre``/``on_post``, normalization as a ``NetworkOperation`` once per
   presentation, fed the very same Poisson spikes through a
   ``SpikeGeneratorGroup``, one ``run`` per chunk of images as neuroai does.
   Its connectivity and initial weights are those of the neuroai description.
   This is the reference: both must give the same spike counts and weights.
3. **neuroai, torch backend** (float32, CPU, one thread; batch 1, since
   plasticity shares one weight matrix).

Two times per run: *sim* is the simulation alone (``Trained.wall_time`` for
neuroai: the backend's ``run`` calls, spike loading included; the same span
for the hand-written script), *total* adds building the network and drawing
the input spikes. images/s and the ratio (images/s of the run divided by that
of the hand-written Brian2, so >= 1.0 means as fast; the target for neuroai's
Brian2 path) use *sim*; "fastest vs fastest" is the same ratio from each
path's fastest repeat, less sensitive to other processes on a busy machine.
Code generation and cython compilation are excluded: each path first trains
once on a few images in a separate run (compiled code is cached in
``~/.cython``; every run reuses the warm-up's object names, see
``run_path``). The two Brian2 paths alternate ``--repeats`` times and the
median is kept; torch runs once.

Usage: ``python simulations/benchmarks/stdp_training.py [--quick]``
(``--quick``: 20 images per path, under a minute on 2 cores once compiled;
the default, 200 Brian2 and 50 torch images, about two and a half minutes).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

import brian2 as b2
import numpy as np
import torch

import neuroai as na
from neuroai.data import load_digits
from neuroai.models import diehl_cook as dc

WARMUP_IMAGES = 2
OURS, DIRECT = "neuroai brian2 (cython)", "direct brian2 (cython)"
TORCH = "neuroai torch (float32, 1 thread)"


def load_images(n: int) -> np.ndarray:
    """The first ``n`` digits, (n, 64) in [0, 1]."""
    images, _ = load_digits()
    return images.reshape(len(images), -1)[:n].astype(np.float64)


# --- 1. neuroai ------------------------------------------------------------------

def run_neuroai(config: dc.DiehlCook, images, chunk: int, seed: int, **options) -> dict:
    t0 = time.perf_counter()
    trained = dc.train(config, images, seed=seed, chunk=chunk, **options)
    return dict(sim=trained.wall_time, total=time.perf_counter() - t0, counts=trained.counts,
                weights=trained.weights)


# --- 2. hand-written Brian2 --------------------------------------------------------

def input_rasters(config: dc.DiehlCook, images, chunk: int, seed: int) -> list[np.ndarray]:
    """Boolean rasters (steps, n_inputs), one per chunk, drawn as
    ``Simulator.present`` draws them: one generator seeded by ``seed``,
    ``PoissonRate.encode`` of the chunk's images over the on-steps,
    (steps, images, n) -> (images, steps, n), silence for the off-steps."""
    rng = np.random.default_rng(seed)
    encoder = na.PoissonRate(max_rate=config.max_rate)
    on, off = round(config.t_on / config.dt), round(config.t_off / config.dt)
    rasters = []
    for first in range(0, len(images), chunk):
        x = images[first:first + chunk]
        full = np.zeros((len(x), on + off, x.shape[1]), dtype=bool)
        full[:, :on] = np.moveaxis(encoder.encode(x, on, config.dt, rng), 0, 1)
        rasters.append(full.reshape(-1, x.shape[1]))
    return rasters


def direct_brian2(config: dc.DiehlCook, n_inputs: int):
    """The circuit written by hand; returns (brian2.Network, input group,
    plastic synapses, excitatory spike monitor)."""
    c, ms, mV, nS, dt = config, b2.ms, b2.mV, b2.nS, config.dt * b2.second
    desc = dc.network(config, n_inputs)  # connectivity and initial weights only
    lif = "dv/dt = (v_rest - v + R*(g_e*(E_g_e - v) + g_i*(E_g_i - v)))/tau_m : volt (unless refractory)\n"
    conductances = "dg_e/dt = -g_e/tau_g_e : siemens\ndg_i/dt = -g_i/tau_g_i : siemens\n"
    exc = b2.NeuronGroup(c.n_neurons, lif + conductances + "dtheta/dt = -theta/tau_theta : volt",
                         threshold="v > v_th + theta", reset="v = v_reset\ntheta += theta_plus",
                         refractory=5 * ms, method="exponential_euler", dt=dt,
                         namespace=dict(v_rest=-65 * mV, v_reset=-65 * mV, v_th=-52 * mV, R=1 * b2.Gohm,
                                        tau_m=100 * ms, tau_g_e=1 * ms, E_g_e=0 * mV, tau_g_i=2 * ms,
                                        E_g_i=-100 * mV, tau_theta=c.tau_theta * b2.second,
                                        theta_plus=c.theta_plus * b2.volt))
    inh = b2.NeuronGroup(c.n_neurons, lif.replace(" + g_i*(E_g_i - v)", "") + "dg_e/dt = -g_e/tau_g_e : siemens",
                         threshold="v > v_th", reset="v = v_reset", refractory=2 * ms,
                         method="exponential_euler", dt=dt,
                         namespace=dict(v_rest=-60 * mV, v_reset=-45 * mV, v_th=-40 * mV, R=1 * b2.Gohm,
                                        tau_m=10 * ms, tau_g_e=1 * ms, E_g_e=0 * mV))
    exc.v, inh.v = -65 * mV, -60 * mV
    source = b2.SpikeGeneratorGroup(n_inputs, [], [] * b2.second, dt=dt)
    # Synapses run in the order of their names: "synapses", "synapses_1", "synapses_2", as neuroai's.
    plastic = b2.Synapses(
        source, exc,
        "w : siemens\ndapre/dt = -apre/tau_pre : 1 (clock-driven)\ndapost/dt = -apost/tau_post : 1 (clock-driven)",
        on_pre="g_e_post += w\napre = 1.0\nw = clip(w - a_minus*apost, 0*nS, w_max)",
        on_post="apost = 1.0\nw = clip(w + a_plus*apre, 0*nS, w_max)", method="exact", dt=dt,
        namespace=dict(tau_pre=c.tau_pre * b2.second, tau_post=c.tau_post * b2.second, a_plus=c.a_plus * nS,
                       a_minus=c.a_minus * nS, w_max=c.w_max * nS, nS=nS))
    synapses = [plastic, b2.Synapses(exc, inh, "w : siemens", on_pre="g_e_post += w", dt=dt),
                b2.Synapses(inh, exc, "w : siemens", on_pre="g_i_post += w", dt=dt)]
    for syn, proj in zip(synapses, (desc.projections[n] for n in (dc.LEARNED, "exc_to_inh", "inh_to_exc"))):
        syn.connect(i=proj.pre_idx, j=proj.post_idx)
        syn.w = proj.weights * b2.siemens
    post, total = desc.projections[dc.LEARNED].post_idx, c.total_per_input * n_inputs * 1e-9

    @b2.network_operation(dt=(c.t_on + c.t_off) * b2.second, when="end", order=1)
    def normalize():
        w = plastic.w_[:]
        sums = np.bincount(post, weights=w, minlength=c.n_neurons)
        plastic.w_[:] = w * np.divide(total, sums, out=np.ones(c.n_neurons), where=sums != 0)[post]

    monitor = b2.SpikeMonitor(exc)
    return b2.Network(exc, inh, source, *synapses, normalize, monitor), source, plastic, monitor


def run_direct(config: dc.DiehlCook, images, chunk: int, seed: int) -> dict:
    t0 = time.perf_counter()
    net, source, plastic, monitor = direct_brian2(config, images.shape[1])
    rasters = input_rasters(config, images, chunk, seed)
    b2.prefs.codegen.target = "cython"
    start, dt = 0, config.dt * b2.second
    t1 = time.perf_counter()
    for raster in rasters:
        steps, idx = np.nonzero(raster)
        source.set_spikes(idx, (steps + start) * dt)
        net.run(len(raster) * dt)
        start += len(raster)
    sim = time.perf_counter() - t1
    on, period = round(config.t_on / config.dt), round((config.t_on + config.t_off) / config.dt)
    steps = np.round(monitor.t_ / config.dt).astype(np.int64)
    inside = steps % period < on
    counts = np.zeros((len(images), config.n_neurons), dtype=np.int64)
    np.add.at(counts, (steps[inside] // period, np.asarray(monitor.i)[inside]), 1)
    weights = np.zeros((images.shape[1], config.n_neurons))
    weights[plastic.i[:], plastic.j[:]] = plastic.w_[:]
    return dict(sim=sim, total=time.perf_counter() - t0, counts=counts, weights=weights)


# --- main ------------------------------------------------------------------------

def run_path(path, images) -> dict:
    """Run one path after freeing the Brian2 objects of earlier runs: Brian2
    numbers its default names ("neurongroup_1", ...) past those still alive,
    and the names enter the generated code, so a new name would mean a new
    cython compilation inside the timed run. Freed, every run reuses the
    warm-up's names and its compiled code."""
    gc.collect()
    return path(images)


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def images_per_s(results: list[dict], fastest: bool = False) -> float:
    """Images per second of simulation, from the median (or the fastest) time of the repeats."""
    return len(results[0]["counts"]) / (min(r["sim"] for r in results) if fastest else median(results, "sim"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 images per path (< 1 min once compiled)")
    parser.add_argument("--images", type=int, default=None, help="images for the Brian2 paths (200; quick 20)")
    parser.add_argument("--torch-images", type=int, default=None, help="images for torch (50; quick 20)")
    parser.add_argument("--chunk", type=int, default=50, help="images per simulation run (default 50)")
    parser.add_argument("--max-rate", type=float, default=200.0, help="input rate of a white pixel, Hz")
    parser.add_argument("--neurons", type=int, default=100, help="excitatory neurons (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each Brian2 path (median kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_b2 = args.images or (20 if args.quick else 200)
    n_torch = args.torch_images or (20 if args.quick else 50)
    repeats = args.repeats
    config = dc.DiehlCook(n_neurons=args.neurons, max_rate=args.max_rate, seed=args.seed)
    images = load_images(max(n_b2, n_torch))
    load_at_start = _load()
    torch.set_num_threads(1)

    paths = {
        OURS: lambda x: run_neuroai(config, x, args.chunk, args.seed, backend="brian2", target="cython"),
        DIRECT: lambda x: run_direct(config, x, args.chunk, args.seed),
        TORCH: lambda x: run_neuroai(config, x, args.chunk, args.seed, backend="torch", dtype="float32",
                                     device="cpu"),
    }
    for label in paths:  # warm-up: code generation and compilation
        run_path(paths[label], images[:WARMUP_IMAGES])
    runs = {OURS: [], DIRECT: []}
    for _ in range(repeats):  # alternate the Brian2 paths, so drifts hit both alike
        for label in runs:
            runs[label].append(run_path(paths[label], images[:n_b2]))
    runs[TORCH] = [run_path(paths[TORCH], images[:n_torch])]

    print(f"# Diehl & Cook STDP training speed{' (quick)' if args.quick else ''}\n")
    print(f"neuroai {na.__version__}, brian2 {b2.__version__}, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs; {config.n_neurons} excitatory + "
          f"{config.n_neurons} inhibitory neurons, 64 inputs at up to {config.max_rate:g} Hz, dt "
          f"{config.dt * 1e3:g} ms, {config.t_on * 1e3:g} + {config.t_off * 1e3:g} ms per image, "
          f"{args.chunk} images per run; Brian2: median of {repeats}; load average {load_at_start} at start, "
          f"{_load()} at end (other processes perturb the timings).\n")
    print("| backend | images | sim (s) | sim range (s) | total (s) | images/s | vs direct Brian2 "
          "| fastest vs fastest | spikes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    reference, best = images_per_s(runs[DIRECT]), images_per_s(runs[DIRECT], fastest=True)
    for label, results in runs.items():
        spikes = ", ".join(sorted({f"{int(r['counts'].sum()):,}" for r in results}))
        sims = [r["sim"] for r in results]
        print(f"| {label} | {len(results[0]['counts'])} | {median(results, 'sim'):.2f} "
              f"| {min(sims):.2f}-{max(sims):.2f} "
              f"| {median(results, 'total'):.2f} | {images_per_s(results):.2f} "
              f"| {images_per_s(results) / reference:.3f} | {images_per_s(results, fastest=True) / best:.3f} "
              f"| {spikes} |")

    ours, theirs = runs[OURS][0], runs[DIRECT][0]
    same = np.array_equal(ours["counts"], theirs["counts"])
    print(f"\nBrian2 paths, same input spikes: excitatory spikes {int(ours['counts'].sum()):,} (neuroai) vs "
          f"{int(theirs['counts'].sum()):,} (direct), per image and neuron identical: {'yes' if same else 'no'}; "
          f"largest final weight difference {np.abs(ours['weights'] - theirs['weights']).max() / 1e-9:.3g} nS.")


if __name__ == "__main__":
    main()
