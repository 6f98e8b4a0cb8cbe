"""Izhikevich patterns: the six cortical firing patterns of Izhikevich (2003), with their spike-count and ISI signatures.

Each named cell type (regular spiking, intrinsically bursting, chattering,
fast spiking, low-threshold spiking, resonator) is driven by a step of
current I = 10 from rest for one second, on both backends. Its spike train
is summarised by ISI statistics and checked against the pattern the paper
describes:

- regular spiking: tonic firing with spike-frequency adaptation, no bursts;
- intrinsically bursting: an initial burst, then tonic single spikes;
- chattering: repetitive high-frequency bursts separated by pauses;
- fast spiking: high rate with almost no adaptation;
- low-threshold spiking: high initial rate with strong adaptation;
- resonator: damped subthreshold oscillations; a small kick from rest
  makes v undershoot the rest it returns to (a regular-spiking cell relaxes
  without undershoot).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import neuroai as na
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table
from neuroai.neurons import IZHIKEVICH_TYPES, Izhikevich

BACKENDS = {"brian2": {}, "torch": {"dtype": "float64"}}


@dataclass(frozen=True)
class Params:
    """Times in seconds; currents and v in the model's mV units."""

    dt: float = 1e-4
    current: float = 10.0
    duration: float = 1.0
    quick_duration: float = 0.5
    kick: float = 0.5          # mV, subthreshold jump for the resonance test
    kick_time: float = 0.05
    kick_window: float = 0.3


def isi_signature(times: np.ndarray) -> dict:
    """ISI summary of one spike train (times in s; ISIs reported in ms)."""
    isi = np.diff(times) * 1e3
    if len(isi) < 3:
        return {"spikes": len(times), "rate_hz": np.nan, "first_isi_ms": np.nan, "last_isi_ms": np.nan,
                "adaptation": np.nan, "burst_fraction": np.nan, "max_isi_ms": np.nan}
    return {"spikes": len(times), "rate_hz": len(times) / (times[-1] - times[0] + isi[-1] * 1e-3),
            "first_isi_ms": isi[0], "last_isi_ms": isi[-1], "adaptation": isi[-1] / isi[0],
            "burst_fraction": float(np.mean(isi < 10.0)), "max_isi_ms": isi.max()}


SIGNATURES = {  # the published pattern, as a predicate on the ISI summary
    "regular_spiking": lambda s: s["adaptation"] > 1.5 and s["burst_fraction"] == 0 and s["rate_hz"] < 50,
    "intrinsically_bursting": lambda s: s["first_isi_ms"] < 10 and s["last_isi_ms"] > 20,
    "chattering": lambda s: s["burst_fraction"] > 0.5 and s["max_isi_ms"] > 20,
    "fast_spiking": lambda s: s["rate_hz"] > 100 and s["adaptation"] < 2,
    "low_threshold_spiking": lambda s: s["adaptation"] > 3 and s["rate_hz"] > 50,
}


def step_responses(p: Params, duration: float, backend: str) -> dict[str, np.ndarray]:
    """Spike times (s) of each cell type under a step of current from rest."""
    net = na.Network(dt=p.dt)
    for name in IZHIKEVICH_TYPES:
        rest = Izhikevich.of_type(name).v_start
        net.add_population(name, 1, Izhikevich.of_type(name, i_bias=p.current), v_init=rest)
        net.monitor(name)
    result = na.Simulator(net, backend, **BACKENDS[backend]).run(duration)
    return {name: result.spike_times(name) for name in IZHIKEVICH_TYPES}


def kick_responses(p: Params, backend: str) -> dict[str, np.ndarray]:
    """v (mV) of a resonator and a regular-spiking cell at rest after a
    subthreshold kick of ``p.kick`` mV at ``p.kick_time``; shape (steps,)."""
    steps = int(round((p.kick_time + p.kick_window) / p.dt))
    kick = np.zeros((steps, 1), bool)
    kick[int(round(p.kick_time / p.dt)), 0] = True
    net = na.Network(dt=p.dt)
    net.add_input("kick", 1, na.SpikeArray())
    for name in ("resonator", "regular_spiking"):
        model = Izhikevich.of_type(name)
        net.add_population(name, 1, model, v_init=model.v_start)
        net.connect("kick", name, weight=p.kick)
        net.monitor(name, "v")
    result = na.Simulator(net, backend, **BACKENDS[backend]).run(steps * p.dt, inputs={"kick": kick})
    return {name: result.trace(f"{name}.v").values[:, 0] for name in ("resonator", "regular_spiking")}


def undershoot(v: np.ndarray, p: Params) -> float:
    """Deepest dip below rest after the kick, as a fraction of the kick."""
    k = int(round(p.kick_time / p.dt))
    return float((v[k] - v[k + 1:].min()) / p.kick)


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Run every pattern on both backends; returns per-type signature checks."""
    p = Params()
    duration = p.quick_duration if quick else p.duration
    record.write_config({**dataclasses.asdict(p), "quick": quick, "run_duration": duration}, seed)
    trains = {b: step_responses(p, duration, b) for b in BACKENDS}
    kicks = {b: kick_responses(p, b) for b in BACKENDS}

    rows, metrics = [], {"backends_identical": True}
    for name in IZHIKEVICH_TYPES:
        same = np.array_equal(trains["brian2"][name], trains["torch"][name])
        metrics["backends_identical"] &= same
        sig = isi_signature(trains["brian2"][name])
        if name == "resonator":
            dips = {k: undershoot(v, p) for k, v in kicks["brian2"].items()}
            sig["undershoot"] = dips["resonator"]
            ok = dips["resonator"] > 0.2 and dips["regular_spiking"] < 0.02
        else:
            ok = bool(SIGNATURES[name](sig))
        metrics[name] = ok
        rows.append({"type": name, **sig, "pattern": "yes" if ok else "NO",
                     "backends identical": same})
    metrics["backends_identical"] &= all(np.array_equal(kicks["brian2"][k], kicks["torch"][k]) for k in kicks["brian2"])
    table = markdown_table(rows)
    print(table)
    record.write_metrics(rows)

    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(len(IZHIKEVICH_TYPES), 1, sharex=True)
    for ax, name in zip(axes, IZHIKEVICH_TYPES):
        t = trains["brian2"][name]
        ax.vlines(t, 0, 1, color="k", lw=0.8)
        ax.set_yticks([])
        ax.set_ylabel(name.replace("_", "\n"), rotation=0, ha="right", va="center", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    record.save_figure(fig, "patterns")
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    t = np.arange(len(kicks["brian2"]["resonator"])) * p.dt * 1e3
    for name, v in kicks["brian2"].items():
        ax.plot(t, v - v[0], label=name)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("v - rest (mV)")
    ax.legend(frameon=False)
    record.save_figure(fig, "resonance")
    record.write_summary("Izhikevich firing patterns", rows,
                         "Step of current I = 10 from rest; ISI statistics in ms.\n\n"
                         "![patterns](patterns.png)\n\n![resonance](resonance.png)")
    return metrics


if __name__ == "__main__":
    raise SystemExit(script_main(run))
