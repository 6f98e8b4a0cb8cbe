"""Backend parity: one excitatory-inhibitory network, spike for spike identical in Brian2 and torch (float64).

The circuit: 200 Poisson inputs drive 800 excitatory and 200 inhibitory LIF
neurons (normalized units: rest and reset 0, threshold 1). Inputs and
excitatory recurrence are delta synapses (the latter with a 1.5 ms axonal
delay); E->I and I->E are exponential currents (5 ms and 3 ms). With seed 0
it fires at about 14 Hz (excitatory) and 30 Hz (inhibitory), in the
gamma-band (~40 Hz) rhythm of an excitatory-inhibitory loop.

The same network and the same input spikes run on the Brian2 backend (numpy
code generation) and on the torch backend in float64. The design's parity
contract (design.md, section 3) says every spike should match: same neuron,
same time step. Reported per population: spikes on each backend, matched
spikes, mean rates; per backend: wall time.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

import neuroai as na
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table
from neuroai.plotting import raster

BACKENDS = {"brian2": {"target": "numpy"}, "torch": {"dtype": "float64"}}
POPULATIONS = ("exc", "inh")


@dataclass(frozen=True)
class Params:
    """Every parameter of the study. Times in seconds, rates in Hz; weights
    are dimensionless (jumps of v for delta synapses, current kicks for
    exponential ones, with R = 1)."""

    dt: float = 1e-4
    duration: float = 1.0          # full run
    quick_duration: float = 0.25   # --quick
    n_input: int = 200
    n_exc: int = 800
    n_inh: int = 200
    input_rate: float = 25.0
    tau_exc: float = 20e-3         # membrane time constants
    tau_inh: float = 10e-3
    t_ref_exc: float = 2e-3
    t_ref_inh: float = 1e-3
    p_input: float = 0.1           # connection probabilities
    p_ee: float = 0.02
    p_ei: float = 0.1
    p_ie: float = 0.2
    w_input_exc: float = 0.15
    w_input_inh: float = 0.05
    w_ee: float = 0.05
    w_ei: float = 0.12
    w_ie: float = 0.4
    delay_ee: float = 1.5e-3
    tau_syn_exc: float = 5e-3      # E->I current
    tau_syn_inh: float = 3e-3      # I->E current


def build(p: Params, seeds: list[int]) -> na.Network:
    """The E-I network; ``seeds`` (7 ints) seed the initial potentials and
    the five connectivity patterns."""
    net = na.Network(dt=p.dt)
    net.add_input("inp", p.n_input, na.PoissonRate(max_rate=p.input_rate))
    net.add_population("exc", p.n_exc, na.LIF(tau_m=p.tau_exc, t_ref=p.t_ref_exc), v_init=na.Uniform(0, 1, seeds[0]))
    net.add_population("inh", p.n_inh, na.LIF(tau_m=p.tau_inh, t_ref=p.t_ref_inh), v_init=na.Uniform(0, 1, seeds[1]))
    net.connect("inp", "exc", na.FixedProbability(p.p_input, seed=seeds[2]), weight=p.w_input_exc)
    net.connect("inp", "inh", na.FixedProbability(p.p_input, seed=seeds[3]), weight=p.w_input_inh)
    net.connect("exc", "exc", na.FixedProbability(p.p_ee, allow_self=False, seed=seeds[4]), weight=p.w_ee,
                sign="excitatory", delay=p.delay_ee)
    net.connect("exc", "inh", na.FixedProbability(p.p_ei, seed=seeds[5]), weight=p.w_ei,
                synapse=na.ExponentialCurrent(p.tau_syn_exc, "I_exc"))
    net.connect("inh", "exc", na.FixedProbability(p.p_ie, seed=seeds[6]), weight=p.w_ie, sign="inhibitory",
                synapse=na.ExponentialCurrent(p.tau_syn_inh, "I_inh"))
    for name in (*POPULATIONS, "inp"):
        net.monitor(name)
    return net


def percent(part: int, whole: int) -> float:
    """100 * part / whole rounded down to 0.01, so that 100 means all (100 when whole is 0)."""
    return math.floor(10000 * part / whole) / 100 if whole else 100.0


def simulate(net: na.Network, backend: str, duration: float, seed: int) -> tuple[na.SimulationResult, float]:
    """Run one backend; returns the result and the total wall time in
    seconds (building, code generation and the run)."""
    print(f"  {backend}: {int(round(duration / net.dt)):,} steps ...", end=" ", flush=True)
    t0 = time.perf_counter()
    result = na.Simulator(net, backend, seed=seed, **BACKENDS[backend]).run(duration)
    total = time.perf_counter() - t0
    print(f"{total:.1f} s", flush=True)
    return result, total


def raster_figure(results: dict[str, na.SimulationResult]):
    """Side-by-side rasters: one column per backend, exc above inh."""
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, len(results), sharex=True, height_ratios=[4, 1], squeeze=False)
    for col, (backend, result) in enumerate(results.items()):
        raster(axes[0, col], result, "exc", color="tab:blue")
        raster(axes[1, col], result, "inh", color="tab:red")
        if col:
            for ax in axes[:, col]:
                ax.set_ylabel("")
    for ax in axes[0]:
        ax.set_xlabel("")
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the parity study into ``record``; returns headline metrics
    (``matched_pct`` over all recurrent spikes, spike counts, rates, wall times)."""
    p = Params()
    duration = p.quick_duration if quick else p.duration
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(7)]
    options = {backend: ", ".join(f"{k}={v}" for k, v in kw.items()) for backend, kw in BACKENDS.items()}
    options["torch"] += f", threads={torch.get_num_threads()}"
    record.write_config({**dataclasses.asdict(p), "quick": quick, "run_duration": duration,
                         "network_seeds": seeds, "backend_options": options}, seed)

    print(f"backend parity: {p.n_exc} exc + {p.n_inh} inh LIF, {p.n_input} Poisson inputs, "
          f"{duration} s at dt = {p.dt * 1e3:g} ms, seed {seed}")
    net = build(p, seeds)
    results, totals = {}, {}
    for backend in BACKENDS:
        results[backend], totals[backend] = simulate(net, backend, duration, seed)
    a, b = results["brian2"], results["torch"]

    per_pop, rows = [], []
    for name in POPULATIONS:
        matched, n_a, n_b = na.spike_agreement(a, b, name)
        pct = percent(matched, max(n_a, n_b))
        per_pop.append({"population": name, "neurons": net.size(name), "brian2 spikes": n_a, "torch spikes": n_b,
                        "matched": matched, "matched %": pct, "brian2 rate (Hz)": a.rates(name).mean(),
                        "torch rate (Hz)": b.rates(name).mean()})
        for backend, r in results.items():
            rows.append({"backend": backend, "population": name, "neurons": net.size(name),
                         "spikes": r.spike_count(name), "matched": matched, "matched_pct": pct,
                         "mean_rate_hz": r.rates(name).mean(), "run_wall_time_s": r.wall_time,
                         "total_wall_time_s": totals[backend]})
    matched = sum(r["matched"] for r in per_pop)
    spikes = {backend: sum(r.spike_count(n) for n in POPULATIONS) for backend, r in results.items()}
    matched_pct = percent(matched, max(spikes.values()))
    timing = [{"backend": backend, "options": options[backend],
               "run wall time (s)": r.wall_time, "incl. build (s)": totals[backend],
               "steps/s": r.n_steps / r.wall_time} for backend, r in results.items()]

    verdict = ("All spikes match: same neuron, same step, on both backends."
               if matched == spikes["brian2"] == spikes["torch"] else
               f"PARITY BROKEN: only {matched:,} of {max(spikes.values()):,} spikes match ({matched_pct:.2f} %).")
    print()
    print(markdown_table(per_pop))
    print()
    print(markdown_table(timing))
    print()
    print(verdict)

    record.write_metrics(rows)
    record.save_figure(raster_figure(results), "rasters")
    text = "\n\n".join([
        f"{p.n_exc} excitatory and {p.n_inh} inhibitory LIF neurons driven by {p.n_input} Poisson inputs at "
        f"{p.input_rate:g} Hz (measured: {a.rates('inp').mean():.1f} Hz), {duration} s of model time at "
        f"dt = {p.dt * 1e3:g} ms, seed {seed}. Both backends receive the same input spikes.",
        markdown_table(timing),
        "Run wall time is `SimulationResult.wall_time` (the run alone); 'incl. build' adds building the "
        "backend's network and, for Brian2, code generation.",
        f"**{verdict}**",
        "![rasters](rasters.png)",
    ])
    record.write_summary("Backend parity: Brian2 vs torch (float64)", per_pop, text)
    return {"matched": matched, "matched_pct": matched_pct, "spikes_brian2": spikes["brian2"],
            "spikes_torch": spikes["torch"], "rate_exc_hz": float(a.rates("exc").mean()),
            "rate_inh_hz": float(a.rates("inh").mean()), "wall_time_brian2_s": a.wall_time,
            "wall_time_torch_s": b.wall_time}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
