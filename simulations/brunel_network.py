"""Brunel (2000): a sparse E-I LIF network, asynchronous or synchronous, spike for spike on Brian2, torch and NEST.

The model of Brunel (2000, J Comput Neurosci 8:183), "model A": N_E
excitatory and N_I = N_E / 4 inhibitory leaky integrate-and-fire neurons
(tau_m 20 ms, threshold theta 20 mV, reset 10 mV, rest 0 mV, refractory
period 2 ms; v in mV, a dimensionless LIF). Every neuron receives exactly
C_E = 0.1 N_E synapses from distinct excitatory neurons and C_I = 0.1 N_I
from distinct inhibitory ones (no autapses), drawn uniformly with a seeded
numpy generator (fixed in-degree, as explicit masks). A spike makes the
membrane potential jump, after a delay D = 1.5 ms, by J = 0.1 mV
(excitatory) or -g J (inhibitory); a smaller network keeps J C_E = 100 mV
(J = 100 mV / C_E), so that the mean input is the paper's. dt = 0.1 ms.

External drive: each neuron receives excitatory Poisson spikes of weight J
at C_E nu_ext, where nu_ext = eta nu_thr and nu_thr = theta / (J C_E tau_m)
= 10 Hz is the rate that brings the mean input to threshold; 20 kHz per
neuron at eta = 2, two spikes per step on average. A neuroai input raster
holds at most one spike per neuron and step, so the count of each neuron in
each step, drawn from Poisson(C_E nu_ext dt) with a seeded generator, is
written in binary over b inputs ("ext_exc_0", "ext_exc_1", ... for the
excitatory population, likewise for the inhibitory one), the j-th projecting
one to one with weight 2^j J: input j spikes when bit j of the count is set,
and the summed kick is the count times J. The drive is thus exactly Poisson
at C_E nu_ext, counted per step of dt; b is the bit length of the largest
count drawn (4 or 5 at full size). The very same rasters feed every backend.

Regimes (Brunel's Fig. 8, chosen with --regimes): AI, asynchronous
irregular (g = 5, eta = 2); SI-fast, synchronous irregular with a fast
global oscillation (g = 6, eta = 4); SI-slow, synchronous irregular with a
slow one (g = 4.5, eta = 0.9); SR, synchronous regular (g = 3, eta = 2;
near 300 Hz, the costliest). The full run simulates N_E = 10,000 (12,500
neurons, 15.6 million recurrent synapses) in AI, SI-fast and SI-slow for
0.1 s of warm-up and 1 s measured. --quick simulates N_E = 1,000 (J = 1 mV)
in AI and SR for 0.05 s + 0.2 s: there the scaled-up J makes the AI state
irregular (CV near 1) and the synchronous-irregular states hard to tell
from it, while SR stands out.

Each backend runs the same Network on one CPU thread: brian2 (numpy code
generation with --quick, cython otherwise), torch in float64 (its parity
mode) with per-synapse weights, nest; the measured run goes in segments of
0.1 s, so that a backend holds one segment's copy of the input spikes at a
time. The warm-up, from membrane potentials uniform in [0, theta), is
discarded; then, over the excitatory population:
the mean rate (Hz), the mean CV of the inter-spike intervals (neurons with
at least 2 intervals), and two measures of synchrony of the spike counts in
bins of 1 ms (where the fast oscillation shows) and 10 ms (the slow one),
from neuroai.statistics: Golomb's chi (1 for identical trains, 1/sqrt(N)
for N independent ones) and the Fano factor of the population count (1 for
independent Poisson trains; it grows with N for correlated ones). Each
backend's spikes (warm-up included, both populations) are compared with the
first backend's: same neuron, same step. The figure shows the last 200 ms
of 50 excitatory neurons above the excitatory population rate, one column
per backend, one row per regime (--plot FILE saves a copy).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

import neuroai as na
from neuroai import statistics as st
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, atomic_write, markdown_table

BACKENDS = ("brian2", "torch", "nest")
POPULATIONS = ("exc", "inh")


@dataclass(frozen=True)
class Regime:
    """Relative inhibition ``g`` and external drive ``eta = nu_ext / nu_thr`` of one of Brunel's states."""

    g: float
    eta: float
    description: str


REGIMES = {
    "AI": Regime(5.0, 2.0, "asynchronous irregular"),
    "SI-fast": Regime(6.0, 4.0, "synchronous irregular, fast oscillation"),
    "SI-slow": Regime(4.5, 0.9, "synchronous irregular, slow oscillation"),
    "SR": Regime(3.0, 2.0, "synchronous regular"),
}


@dataclass(frozen=True)
class Params:
    """Every parameter of the study. Times in seconds, potentials in mV, rates in Hz."""

    dt: float = 1e-4
    tau_m: float = 20e-3
    theta: float = 20.0            # threshold
    v_reset: float = 10.0
    t_ref: float = 2e-3
    delay: float = 1.5e-3
    j_c_e: float = 100.0           # J C_E: J = 0.1 mV at C_E = 1000
    epsilon: float = 0.1           # in-degree / population size
    inh_ratio: float = 0.25        # N_I / N_E
    n_exc: int = 10_000            # full run
    quick_n_exc: int = 1_000       # --quick
    warmup: float = 0.1            # discarded transient
    duration: float = 1.0          # measured
    quick_warmup: float = 0.05
    quick_duration: float = 0.2
    segment: float = 0.1           # the measured run goes in segments of this length (memory: see simulate)
    bins: tuple[float, ...] = (1e-3, 10e-3)   # spike-count bins of the synchrony measures: fast and slow
    raster_neurons: int = 50
    raster_window: float = 0.2     # the figure's last seconds
    regimes: tuple[str, ...] = ("AI", "SI-fast", "SI-slow")
    quick_regimes: tuple[str, ...] = ("AI", "SR")


@dataclass(frozen=True)
class Sizes:
    """Population sizes, in-degrees and the synaptic weight J (mV) of a network of ``n_exc`` excitatory neurons."""

    n_exc: int
    n_inh: int
    c_exc: int
    c_inh: int
    j: float

    @classmethod
    def of(cls, p: Params, n_exc: int) -> "Sizes":
        """The sizes Brunel's proportions give; J keeps ``J C_E = p.j_c_e``."""
        n_inh = round(n_exc * p.inh_ratio)
        c_exc, c_inh = round(p.epsilon * n_exc), round(p.epsilon * n_inh)
        return cls(n_exc, n_inh, c_exc, c_inh, p.j_c_e / c_exc)


def fixed_in_degree(rng: np.random.Generator, n_pre: int, n_post: int, k: int, *, autapses: bool,
                    chunk: int = 1024) -> np.ndarray:
    """A boolean mask (n_pre, n_post) in which every column (target) has exactly ``k`` True entries, its
    sources drawn uniformly without replacement; with ``autapses=False`` (a population onto itself)
    never the target itself. Vectorized over ``chunk`` targets at a time: each target keeps the ``k``
    smallest of uniform keys, one per candidate source."""
    candidates = n_pre if autapses else n_pre - 1
    if not 0 < k <= candidates:
        raise ValueError(f"fixed_in_degree: the in-degree k must be in [1, {candidates}], got {k}")
    mask = np.zeros((n_pre, n_post), dtype=bool)
    for lo in range(0, n_post, chunk):
        post = np.arange(lo, min(n_post, lo + chunk))[:, None]
        pre = np.argpartition(rng.random((len(post), candidates), dtype=np.float32), k - 1, axis=1)[:, :k]
        if not autapses:
            pre += pre >= post   # skip the target's own index
        mask[pre, np.broadcast_to(post, pre.shape)] = True
    return mask


def binary_poisson_drive(rng: np.random.Generator, mean: float, steps: int, n: int) -> list[np.ndarray]:
    """Poisson counts with mean ``mean`` per neuron and step, written in binary: raster j (steps, n) holds
    bit j of each count, so that ``sum_j 2^j raster_j`` is the count. As many rasters as the largest
    count has bits (at least one)."""
    counts = rng.poisson(mean, size=(steps, n))
    bits = max(1, int(counts.max()).bit_length())
    return [(counts >> j & 1).astype(bool) for j in range(bits)]


def build(p: Params, regime: Regime, size: Sizes, steps: int, seed: int) -> tuple[na.Network, dict]:
    """Brunel's network in ``regime`` with the drive of ``steps`` steps; returns the network and its
    input rasters (input name -> (steps, n)). ``seed`` fixes connectivity, initial potentials and drive
    (the same connectivity and initial potentials in every regime)."""
    connect_seed, v_seed, drive_seed = np.random.SeedSequence(seed).spawn(3)
    v_seeds = [int(s) for s in v_seed.generate_state(2)]
    net = na.Network(dt=p.dt)
    lif = na.LIF(tau_m=p.tau_m, v_rest=0.0, v_reset=p.v_reset, v_th=p.theta, t_ref=p.t_ref)
    n = {"exc": size.n_exc, "inh": size.n_inh}
    for pop, v_s in zip(POPULATIONS, v_seeds):
        net.add_population(pop, n[pop], lif, v_init=na.Uniform(0.0, p.theta, seed=v_s))
    nu_thr = p.theta / (size.j * size.c_exc * p.tau_m)   # Hz
    mean = size.c_exc * regime.eta * nu_thr * p.dt       # external spikes per neuron and step
    drive_rng, stimulus = np.random.default_rng(drive_seed), {}
    for pop in POPULATIONS:
        for j, raster in enumerate(binary_poisson_drive(drive_rng, mean, steps, n[pop])):
            name = f"ext_{pop}_{j}"
            net.add_input(name, n[pop], na.SpikeArray())
            net.connect(name, pop, na.OneToOne(), weight=2 ** j * size.j, name=f"{name}_to_{pop}")
            stimulus[name] = raster
    rng = np.random.default_rng(connect_seed)
    for pre, k, sign, weight in (("exc", size.c_exc, "excitatory", size.j),
                                 ("inh", size.c_inh, "inhibitory", regime.g * size.j)):
        for post in POPULATIONS:
            mask = fixed_in_degree(rng, n[pre], n[post], k, autapses=pre != post)
            net.connect(pre, post, na.Explicit(mask), weight=weight, sign=sign, delay=p.delay, name=f"{pre}_{post}")
    for pop in POPULATIONS:
        net.monitor(pop)
    return net, stimulus


def backend_options(backend: str, quick: bool) -> dict:
    """The Simulator options of each backend: Brian2's numpy target quick and cython otherwise, torch in
    float64 (its parity mode) with per-synapse weights, NEST on one thread (as the others run)."""
    return {"brian2": {"target": "numpy" if quick else "cython"},
            "torch": {"dtype": "float64", "sparse": True},
            "nest": {"threads": 1}}[backend]


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to ``n`` for the block, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def joined(parts: list[na.SimulationResult]) -> na.SimulationResult:
    """Consecutive runs of one simulator as one result (spikes concatenated, wall times added)."""
    first = parts[0]
    spikes = {name: na.Spikes(np.concatenate([r.spikes[name].steps for r in parts]),
                              np.concatenate([r.spikes[name].indices for r in parts]), s.n)
              for name, s in first.spikes.items()}
    return na.SimulationResult(first.backend, first.dt, first.start_step, sum(r.n_steps for r in parts), spikes,
                               wall_time=sum(r.wall_time for r in parts))


def simulate(net: na.Network, stimulus: dict, backend: str, options: dict, warmup_steps: int,
             segment_steps: int, seed: int) -> tuple[na.SimulationResult, na.SimulationResult, float]:
    """The warm-up run, then the measured run that continues it in segments of ``segment_steps`` (each
    backend copies a segment's input spikes at a time: in torch as a float tensor), on one CPU thread.
    Returns the two results and the total wall time in seconds (building included)."""
    t0 = time.perf_counter()
    total = next(iter(stimulus.values())).shape[0]
    with torch_threads(1):
        sim = na.Simulator(net, backend, seed=seed, **options)
        parts = []
        for a in [0, *range(warmup_steps, total, segment_steps)]:
            b = warmup_steps if a == 0 else min(total, a + segment_steps)
            parts.append(sim.run((b - a) * net.dt, inputs={k: r[a:b] for k, r in stimulus.items()}))
    return parts[0], joined(parts[1:]), time.perf_counter() - t0


def statistics(result: na.SimulationResult, p: Params) -> dict:
    """The mean rate (Hz), mean ISI CV and synchrony (chi and the population Fano factor in each of
    ``p.bins``) of the excitatory population over the measured run."""
    cv = st.isi_cv(result, "exc", method="numpy")
    out = {"rate (Hz)": float(result.rates("exc").mean()),
           "CV": float(np.nanmean(cv)) if np.any(np.isfinite(cv)) else math.nan}
    for b in p.bins:
        out[f"chi {b * 1e3:g} ms"] = st.synchrony_chi(result, "exc", bin_size=b)
    for b in p.bins:
        out[f"Fano {b * 1e3:g} ms"] = st.population_fano_factor(result, "exc", bin_size=b)
    return out


def agreement(runs: list[na.SimulationResult], reference: list[na.SimulationResult]) -> tuple[int, int, float | None]:
    """(spikes matched in both populations over all runs, the larger spike count, time in seconds of the
    first spike that differs, or None)."""
    matched = total = 0
    first = math.inf
    for run, ref in zip(runs, reference):
        for pop in POPULATIONS:
            m, a, b = na.spike_agreement(ref, run, pop)
            matched, total = matched + m, total + max(a, b)
            n = ref.spikes[pop].n
            keys = [r.spikes[pop].steps.astype(np.int64) * n + r.spikes[pop].indices for r in (ref, run)]
            differ = np.setxor1d(*keys)
            if differ.size:
                first = min(first, differ[0] // n * ref.dt)
    return matched, total, None if math.isinf(first) else float(first)


def figure(results: dict, size: Sizes, p: Params) -> Figure:
    """One column per backend; per regime, a raster of the first excitatory neurons over the last
    ``raster_window`` seconds above the excitatory population rate (0.5 ms bins)."""
    regimes = list(results)
    backends = list(results[regimes[0]])
    fig = Figure(figsize=(3.6 * len(backends) + 0.6, 2.6 * len(regimes)), layout="constrained")
    axes = fig.subplots(2 * len(regimes), len(backends), squeeze=False, sharex="col",
                        height_ratios=[3, 1] * len(regimes))
    shown = min(p.raster_neurons, size.n_exc)
    bin_steps = 5
    for r, name in enumerate(regimes):
        for c, backend in enumerate(backends):
            res = results[name][backend]
            stop = res.start_step + res.n_steps
            start = max(res.start_step, stop - round(p.raster_window / res.dt))
            s = res.spikes["exc"]
            keep = (s.indices < shown) & (s.steps >= start)
            ax_r, ax_p = axes[2 * r, c], axes[2 * r + 1, c]
            ax_r.scatter(s.steps[keep] * res.dt * 1e3, s.indices[keep], s=2, c="k", marker=".", linewidths=0,
                         rasterized=True)
            ax_r.set_ylim(-0.5, shown - 0.5)
            ax_r.set_title(f"{name} (g={REGIMES[name].g:g}, eta={REGIMES[name].eta:g}): {backend}", fontsize="medium")
            late = s.steps[s.steps >= start] - start
            counts = np.bincount(late // bin_steps, minlength=(stop - start) // bin_steps)
            t = (start + bin_steps * np.arange(len(counts))) * res.dt * 1e3
            ax_p.plot(t, counts / (size.n_exc * bin_steps * res.dt), lw=0.7, color="tab:blue")
            ax_p.set_xlim(start * res.dt * 1e3, stop * res.dt * 1e3)
            if c == 0:
                ax_r.set_ylabel("exc neuron")
                ax_p.set_ylabel("rate (Hz)")
            for ax in (ax_r, ax_p):
                for side in ("top", "right"):
                    ax.spines[side].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    return fig


def _unique(kind: str):
    """An argparse action that stores a list of distinct values as a tuple (a repeated ``kind`` is an error)."""
    class Unique(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                parser.error(f"{option_string}: each {kind} at most once, got {' '.join(values)}")
            setattr(namespace, self.dest, tuple(values))
    return Unique


def _figure_file(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise argparse.ArgumentTypeError(f"must be a .png, .pdf or .svg file, got {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"its folder {str(path.parent)!r} does not exist")
    return path


def add_arguments(parser) -> None:
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=None, action=_unique("backend"),
                        help="backends to run, the first being the reference of the spike comparison "
                             "(default: brian2 torch nest)")
    parser.add_argument("--regimes", nargs="+", choices=sorted(REGIMES), default=None,
                        action=_unique("regime"),
                        help="Brunel's states to simulate (default AI SI-fast SI-slow; quick AI SR)")
    parser.add_argument("--plot", type=_figure_file, default=None, metavar="FILE",
                        help="also save the raster figure to FILE (.png, .pdf or .svg)")


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, backends=None, regimes=None,
        plot: Path | None = None) -> dict:
    """Simulate each regime on each backend; returns the table's rows, the spike agreement of each backend
    with the first (regime -> backend -> matched, total, first_difference_s), whether all spikes were
    identical, and the network's sizes."""
    p = Params()
    backends = tuple(backends or BACKENDS)
    regimes = tuple(regimes or (p.quick_regimes if quick else p.regimes))
    for what, names, known in (("backends", backends, BACKENDS), ("regimes", regimes, tuple(REGIMES))):
        unknown = [x for x in names if x not in known]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"brunel_network: parameter {what!r} must be distinct names among {list(known)}, "
                             f"got {list(names)}")
    size = Sizes.of(p, p.quick_n_exc if quick else p.n_exc)
    warmup, duration = (p.quick_warmup, p.quick_duration) if quick else (p.warmup, p.duration)
    warmup_steps, steps = round(warmup / p.dt), round((warmup + duration) / p.dt)
    options = {b: backend_options(b, quick) for b in backends}
    record.write_config({**dataclasses.asdict(p), "quick": quick, "sizes": dataclasses.asdict(size),
                         "regimes_run": {r: dataclasses.asdict(REGIMES[r]) for r in regimes},
                         "backends_run": list(backends), "backend_options": options}, seed)
    print(f"Brunel network: {size.n_exc:,} exc + {size.n_inh:,} inh LIF, C_E = {size.c_exc}, C_I = {size.c_inh}, "
          f"J = {size.j:g} mV, D = {p.delay * 1e3:g} ms; {warmup:g} s warm-up + {duration:g} s at dt = "
          f"{p.dt * 1e3:g} ms, seed {seed}")

    rows, results, agreements, mismatches = [], {}, {}, []
    for name in regimes:
        regime = REGIMES[name]
        net, stimulus = build(p, regime, size, steps, seed)
        print(f"{name} (g = {regime.g:g}, eta = {regime.eta:g}): the drive in {len(stimulus) // 2} bits")
        runs, results[name], agreements[name] = {}, {}, {}
        for backend in backends:
            print(f"  {backend} ...", end=" ", flush=True)
            first, second, wall = simulate(net, stimulus, backend, options[backend], warmup_steps,
                                           round(p.segment / p.dt), seed)
            gc.collect()   # the backend's network, gone with its simulator (Brian2's objects hold cycles)
            print(f"{wall:.1f} s", flush=True)
            runs[backend], results[name][backend] = (first, second), second
            row = {"regime": name, "g": regime.g, "eta": regime.eta, "backend": backend, **statistics(second, p),
                   "spikes": sum(r.spike_count(q) for r in (first, second) for q in POPULATIONS)}
            if backend == backends[0]:
                row[f"same as {backends[0]}"] = "(reference)"
            else:
                matched, total, diverged = agreement(runs[backend], runs[backends[0]])
                row[f"same as {backends[0]}"] = f"{matched:,} of {total:,}"
                agreements[name][backend] = {"matched": matched, "total": total, "first_difference_s": diverged}
                if diverged is not None:
                    mismatches.append(f"{name} on {backend} (first difference at {diverged:.4f} s)")
            row["time (s)"] = wall
            rows.append(row)
        del net, stimulus   # (the next regime's network and drive take their place)

    table = markdown_table(rows)
    verdict = ("" if len(backends) < 2 else
               f"All spikes identical to {backends[0]}'s: same neuron, same step." if not mismatches else
               f"SPIKES DIFFER from {backends[0]}'s: {'; '.join(mismatches)}.")
    print()
    print(table)
    if verdict:
        print()
        print(verdict)

    record.write_metrics(rows)
    fig = figure(results, size, p)
    record.save_figure(fig, "brunel_network")
    if plot is not None:
        buf = io.BytesIO()
        fig.savefig(buf, format=plot.suffix[1:].lower(), dpi=150, bbox_inches="tight")
        atomic_write(plot, buf.getvalue(), owner="brunel_network --plot")
        print(f"figure: {plot}")
    text = "\n\n".join(filter(None, [
        f"{size.n_exc:,} excitatory and {size.n_inh:,} inhibitory LIF neurons, in-degrees C_E = {size.c_exc} and "
        f"C_I = {size.c_inh}, J = {size.j:g} mV, delay {p.delay * 1e3:g} ms, Poisson drive at C_E nu_ext; "
        f"{warmup:g} s of warm-up discarded, {duration:g} s measured at dt = {p.dt * 1e3:g} ms, seed {seed}. "
        f"Rate, CV (mean over neurons with 2 or more intervals), Golomb's chi and the Fano factor of the "
        f"population count (spike counts in bins of {' and '.join(f'{b * 1e3:g}' for b in p.bins)} ms) of the "
        f"excitatory population over the measured run; spikes and the comparison over the whole run, both "
        f"populations; time: building and running, on one CPU thread.",
        verdict and f"**{verdict}**",
        "![rasters](brunel_network.png)",
    ]))
    record.write_summary("Brunel (2000) network on " + ", ".join(backends), rows, text)
    return {"rows": rows, "agreement": agreements, "identical": not mismatches, "sizes": dataclasses.asdict(size)}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
