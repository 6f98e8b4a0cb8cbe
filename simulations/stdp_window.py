"""STDP window: weight change vs spike-time difference from pairing protocols, against the rule's analytic curve.

Each of N independent synapses sees one pre/post pairing at its own lag
``dt_pair = t_post - t_pre`` (from -60 ms to +60 ms): an input spike at
50 ms, and a strong drive that fires the postsynaptic neuron exactly
``dt_pair`` later. The measured weight change is compared with the window of
pair-based additive STDP,
``A+ exp(-dt_pair/tau_pre)`` for ``dt_pair > 0`` and ``-A- exp(dt_pair/tau_post)``
for ``dt_pair < 0`` (Bi & Poo 1998 time constants, as fitted by
van Rossum et al. 2000), on both backends.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import neuroai as na
from neuroai.cli import script_main
from neuroai.coding import pairing_protocol
from neuroai.experiments import RunRecord, markdown_table
from neuroai.plasticity import STDP

BACKENDS = {"brian2": {}, "torch": {"dtype": "float64"}}


@dataclass(frozen=True)
class Params:
    """Times in seconds; amplitudes in units of the weight (dimensionless)."""

    dt: float = 1e-4
    tau_pre: float = 16.8e-3
    tau_post: float = 33.7e-3
    a_plus: float = 0.005
    a_minus: float = 0.00525
    max_lag: float = 60e-3
    n_lags: int = 121      # full run: every millisecond
    quick_n_lags: int = 25  # --quick: every 5 ms
    w0: float = 0.5        # initial weight: too weak to fire the neuron alone


def analytic_window(rule: STDP, lags: np.ndarray) -> np.ndarray:
    """Weight change of one pair at each lag (s) under additive pair STDP."""
    return np.where(lags > 0, rule.a_plus * np.exp(-lags / rule.tau_pre),
                    np.where(lags < 0, -rule.a_minus * np.exp(lags / rule.tau_post), 0.0))


def pairing_changes(rule, lags: np.ndarray, backend: str, dt: float = 1e-4, w0: float = 0.5,
                    pairs: int = 1, frequencies: np.ndarray | None = None, **options) -> np.ndarray:
    """Simulate pairing protocols, one synapse each, and return each weight change.

    Synapse k sees ``pairs`` presynaptic spikes at ``frequencies[k]`` Hz
    (default: a single pair), each followed by a postsynaptic spike
    ``lags[k]`` seconds later (before it when negative; lags are rounded
    to whole steps). The postsynaptic spikes are forced by a drive delivered
    one step earlier (deliveries take effect at the next threshold).
    """
    lags = np.asarray(lags, dtype=np.float64)
    n = len(lags)
    periods = np.ones(n) if frequencies is None else 1.0 / np.asarray(frequencies, dtype=np.float64)
    pre, drive = pairing_protocol(dt, lags, periods, pairs)
    steps = len(pre)
    net = na.Network(dt=dt)
    net.add_input("pre", n, na.SpikeArray())
    net.add_input("drive", n, na.SpikeArray())
    net.add_population("post", n, na.LIF(tau_m=10e-3))
    net.connect("pre", "post", na.OneToOne(), weight=w0, plasticity=rule, name="syn")
    net.connect("drive", "post", na.OneToOne(), weight=5.0)
    net.monitor("post")
    sim = na.Simulator(net, backend, **options)
    result = sim.run(steps * dt, inputs={"pre": pre, "drive": drive})
    fired = np.bincount(result.spike_indices("post"), minlength=n)
    if not np.all(fired == pairs):
        raise RuntimeError(f"pairing protocol broken: postsynaptic spike counts {fired}, expected {pairs}")
    return sim.to_network().projections["syn"].weights - w0


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Measure the window on both backends; returns the largest absolute
    error against the analytic curve, relative to A+."""
    p = Params()
    record.write_config({**dataclasses.asdict(p), "quick": quick}, seed)
    rule = STDP(tau_pre=p.tau_pre, tau_post=p.tau_post, a_plus=p.a_plus, a_minus=p.a_minus)
    lags = np.linspace(-p.max_lag, p.max_lag, p.quick_n_lags if quick else p.n_lags)
    lags = np.round(lags / p.dt) * p.dt
    lags = lags[lags != 0]
    expected = analytic_window(rule, lags)
    measured = {b: pairing_changes(rule, lags, b, p.dt, p.w0, **opts) for b, opts in BACKENDS.items()}

    rows, metrics = [], {}
    for backend, dw in measured.items():
        err = np.abs(dw - expected).max()
        metrics[f"max_error_{backend}"] = float(err / p.a_plus)
        rows.append({"backend": backend, "pairings": len(lags), "max |error| / A+": err / p.a_plus,
                     "peak LTP": dw.max(), "peak LTD": dw.min(), "LTD/LTP area": -dw[dw < 0].sum() / dw[dw > 0].sum()})
    metrics["backends_identical"] = bool(np.array_equal(measured["brian2"], measured["torch"]))
    table = markdown_table(rows)
    print(table)
    print(f"backends identical: {metrics['backends_identical']}")

    record.write_metrics([{"lag_s": lag, "analytic": e, **{f"dw_{b}": measured[b][k] for b in measured}}
                          for k, (lag, e) in enumerate(zip(lags, expected))])
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    fine = np.linspace(-p.max_lag, p.max_lag, 1001)
    ax.plot(fine * 1e3, analytic_window(rule, fine), color="0.6", lw=2, label="analytic window")
    for (backend, dw), marker in zip(measured.items(), ("o", "x")):
        ax.plot(lags * 1e3, dw, marker, ms=4, label=f"measured ({backend})")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("t_post - t_pre (ms)")
    ax.set_ylabel("weight change per pair")
    ax.legend(frameon=False)
    record.save_figure(fig, "stdp_window")
    record.write_summary("STDP window", rows, "Weight change per pairing vs spike-time difference.\n\n"
                         "![window](stdp_window.png)")
    return metrics


if __name__ == "__main__":
    raise SystemExit(script_main(run))
