"""Oja PCA: Oja's rule on a spiking neuron finds the first principal component of its correlated inputs.

Twenty Poisson inputs carry a stream of stimuli, one every 50 ms: each
stimulus is a mix ``c1 * u1 + c2 * u2`` of two overlapping bumps of activity
across the inputs, with random amplitudes (``c1`` varying twice as much as
``c2``), so the inputs' rates are correlated. A LIF neuron receives them
through synapses that learn by Oja's rule from rate traces. Its weight
vector turns towards the leading eigenvector of the inputs' correlation
(second-moment) matrix, computed with numpy from the very same stimuli: we
report the cosine between the two (Oja 1982 predicts 1 for a linear neuron)
on both backends, with identical weights.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import neuroai as na
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table
from neuroai.plasticity import Oja

BACKENDS = {"brian2": {}, "torch": {"dtype": "float64"}}


@dataclass(frozen=True)
class Params:
    """Times in seconds, rates in Hz; ``eta`` in 1/(Hz^2 s)."""

    dt: float = 1e-3
    n_inputs: int = 20
    max_rate: float = 100.0
    t_on: float = 0.05
    samples: int = 600
    quick_samples: int = 200
    centres: tuple[float, float] = (6.0, 14.0)   # input index at each bump's peak
    width: float = 3.0                           # bump width, in inputs
    amplitudes: tuple[float, float] = (1.0, 0.5)  # c1 ~ U(0, 1), c2 ~ U(0, 0.5)
    eta: float = 4e-5
    tau_rate: float = 0.1
    tau_m: float = 20e-3
    sample_every: float = 1.0                    # weight samples for the learning curve


def stimuli(p: Params, n_samples: int, seed: int) -> np.ndarray:
    """Input activity of each stimulus in [0, 1], shape (n_samples, n_inputs)."""
    rng = np.random.default_rng(seed)
    index = np.arange(p.n_inputs)
    bumps = np.stack([np.exp(-0.5 * ((index - c) / p.width) ** 2) for c in p.centres])
    amplitudes = rng.uniform(0, 1, (n_samples, 2)) * np.asarray(p.amplitudes)
    return np.clip(amplitudes @ bumps, 0.0, 1.0)


def first_component(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Leading eigenvector (positive sum) of the second-moment matrix of the
    rows of ``x``, and its eigenvalue ratio to the next."""
    values, vectors = np.linalg.eigh(x.T @ x / len(x))
    e1 = vectors[:, -1]
    return e1 * np.sign(e1.sum()), float(values[-1] / values[-2])


def build(p: Params, seed: int) -> na.Network:
    net = na.Network(dt=p.dt)
    net.add_input("inp", p.n_inputs, na.PoissonRate(max_rate=p.max_rate))
    net.add_population("out", 1, na.LIF(tau_m=p.tau_m))
    rule = Oja(eta=p.eta, tau_pre=p.tau_rate, tau_post=p.tau_rate, w_max=5.0)
    # start far from the answer: weights concentrated on the last inputs
    w0 = 0.05 + 0.5 * np.exp(-0.5 * ((np.arange(p.n_inputs) - (p.n_inputs - 1)) / p.width) ** 2)
    net.connect("inp", "out", weight=w0 + na.Uniform(0, 0.01, seed=seed).sample(p.n_inputs), plasticity=rule,
                name="ff")
    net.monitor("out")
    net.monitor("ff", "w", every=int(round(p.sample_every / p.dt)))
    return net


def cosine(w: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Cosine between each row of ``w`` and ``e``."""
    return (w @ e) / (np.linalg.norm(w, axis=-1) * np.linalg.norm(e))


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Learn on both backends; returns the final cosines and whether the
    backends agree."""
    p = Params()
    n_samples = p.quick_samples if quick else p.samples
    record.write_config({**dataclasses.asdict(p), "quick": quick, "n_samples": n_samples}, seed)
    x = stimuli(p, n_samples, seed)
    e1, ratio = first_component(x)
    net = build(p, seed)
    curves, final, rates = {}, {}, {}
    for backend, options in BACKENDS.items():
        sim = na.Simulator(net, backend, seed=seed, **options)
        result = sim.present({"inp": x}, t_on=p.t_on)
        final[backend] = sim.to_network().projections["ff"].weights
        trace = result.trace("ff.w")
        curves[backend] = (trace.steps * p.dt, cosine(np.vstack([trace.values, final[backend]]), e1))
        rates[backend] = float(result.rates("out").mean())
    identical = bool(np.array_equal(final["brian2"], final["torch"]))
    rows = [{"backend": b, "stimuli": n_samples, "model time (s)": n_samples * p.t_on,
             "initial cosine": curves[b][1][0], "final cosine": curves[b][1][-1],
             "|w|": np.linalg.norm(final[b]), "output rate (Hz)": rates[b]} for b in BACKENDS]
    print(markdown_table(rows))
    print(f"eigenvalue ratio lambda1/lambda2 = {ratio:.1f}; backends identical: {identical}")
    record.write_metrics([{"backend": b, "time_s": t, "cosine": c} for b, (ts, cs) in curves.items()
                          for t, c in zip(np.r_[ts, n_samples * p.t_on], cs)])

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ts, cs = curves["brian2"]
    ax1.plot(np.r_[ts, n_samples * p.t_on], cs, marker="o", ms=3)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("cos(w, first principal component)")
    ax1.axhline(1.0, color="0.7", lw=0.8)
    w = final["brian2"]
    ax2.plot(e1 * np.linalg.norm(w), color="0.5", lw=2, label="first component (numpy, scaled)")
    ax2.plot(w, "o", label="learned weights")
    ax2.set_xlabel("input")
    ax2.set_ylabel("weight")
    ax2.legend(frameon=False)
    record.save_figure(fig, "oja_pca")
    record.write_summary("Oja's rule finds the first principal component", rows,
                         f"Eigenvalue ratio {ratio:.1f}; backends identical: {identical}.\n\n![oja](oja_pca.png)")
    return {"cosine_brian2": float(curves["brian2"][1][-1]), "cosine_torch": float(curves["torch"][1][-1]),
            "initial_cosine": float(curves["brian2"][1][0]), "backends_identical": identical}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
