"""BCI decoding: reach direction from cosine-tuned motor cortex (population vector, linear, MLP) vs neuron count.

A center-out reaching task in the spirit of Georgopoulos et al. (1982, 1986):
on each trial the arm moves in a direction theta drawn uniformly from
[0, 2 pi). Each motor-cortex neuron i is an LIF neuron driven one-to-one by a
Poisson source at ``b_i + m_i cos(theta - pd_i)`` Hz, with a preferred
direction ``pd_i`` uniform on the circle and heterogeneous baseline ``b_i``
and depth ``m_i`` (seeded): its output is a rectified, noisy cosine tuning
curve. All trials run in one neuroai network with ``Simulator.present``:
each movement epoch for ``t_on``, then ``t_off`` of silence. To use the
vectorized step well, the network holds ``parallel`` independent copies of
the population (same tuning, one-to-one drive), so each presentation runs
``parallel`` trials side by side. The data are generated, nothing is
downloaded.

Decoders, trained on the spike counts of the first 2/3 of the trials and
tested on the rest:

- population vector: cosine tuning fitted to the training trials
  (``decoding.fit_cosine_tuning``), then each neuron votes for its fitted
  preferred direction with weight ``(count - baseline) / depth``
  (``decoding.population_vector``);
- linear decoder: least squares from counts to ``(cos theta, sin theta)``
  (``decoding.LinearDecoder``), direction ``atan2``;
- MLP: one hidden layer of ReLU units trained with ``torch.optim.Adam`` on the
  same targets (mean squared error, full batch).

Decoding error is the mean absolute angular error in degrees on the test
trials (90 degrees is chance), averaged over random subsets of the recorded
neurons for each population size (a neuron-dropping curve).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

import neuroai as na
from neuroai import decoding
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table

DECODERS = ("population vector", "linear", "MLP")
COLORS = {"population vector": "tab:blue", "linear": "tab:orange", "MLP": "tab:green"}


@dataclass(frozen=True)
class Params:
    """Every parameter of the study. Times in seconds, rates in Hz; the LIF
    is normalized (threshold 1), the weight is the jump of v per drive spike."""

    dt: float = 1e-3
    n_neurons: int = 256
    quick_neurons: int = 128
    n_trials: int = 600
    quick_trials: int = 240
    parallel: int = 8                 # trials simulated side by side (copies of the population)
    sizes: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)
    repeats: int = 8                  # random neuron subsets per size
    quick_repeats: int = 3
    t_on: float = 0.2                 # movement epoch: counts are taken here
    t_off: float = 0.05
    baseline: tuple[float, float] = (80.0, 160.0)    # drive b_i ~ U(low, high), Hz
    depth: tuple[float, float] = (20.0, 80.0)        # drive m_i ~ U(low, high), Hz
    gain_noise: float = 0.3           # std of the log of a per-trial, per-neuron gain on the drive
    max_drive: float = 300.0
    weight: float = 0.4
    tau_m: float = 20e-3
    t_ref: float = 2e-3
    train_fraction: float = 2 / 3
    ridge: float = 0.05               # linear decoder, relative to the mean feature variance
    hidden: int = 64                  # MLP
    epochs: int = 400
    lr: float = 1e-2
    weight_decay: float = 1e-4
    backend: str = "brian2"           # single-threaded numpy code: steady timings on a busy CPU
    backend_options: tuple[tuple[str, str], ...] = (("target", "numpy"),)


def build(p: Params, n: int) -> na.Network:
    """``p.parallel`` copies of ``n`` LIF neurons, each driven one-to-one by
    its own Poisson source; copy k holds neurons ``k*n .. (k+1)*n - 1``."""
    net = na.Network(dt=p.dt)
    net.add_input("drive", n * p.parallel, na.PoissonRate(max_rate=p.max_drive))
    net.add_population("m1", n * p.parallel, na.LIF(tau_m=p.tau_m, t_ref=p.t_ref))
    net.connect("drive", "m1", na.OneToOne(), weight=p.weight)
    net.monitor("m1")
    return net


def drive(p: Params, angles: np.ndarray, preferred: np.ndarray, base: np.ndarray, depth: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """Cosine-tuned drive of each neuron on each trial, times a log-normal
    gain (trial-to-trial variability beyond Poisson), as a fraction of
    ``max_drive`` (the PoissonRate value), shape (n_trials, n)."""
    rate = base + depth * np.cos(angles[:, None] - preferred[None, :])
    gain = np.exp(p.gain_noise * rng.standard_normal(rate.shape) - p.gain_noise ** 2 / 2)
    return np.clip(rate * gain / p.max_drive, 0.0, 1.0)


def mean_abs_error_deg(estimate: np.ndarray, truth: np.ndarray) -> float:
    err = decoding.angular_difference(estimate, truth)
    err = np.where(np.isnan(err), np.pi / 2, err)  # an undefined estimate counts as a chance guess
    return float(np.degrees(np.abs(err)).mean())


def decode_pv(xtr, atr, xte) -> np.ndarray:
    fit = decoding.fit_cosine_tuning(xtr, atr)
    return decoding.population_vector(xte, fit.preferred, period=2 * np.pi, baseline=fit.baseline,
                                      scale=np.maximum(fit.depth, 1e-9))


def decode_linear(xtr, atr, xte, p: Params) -> np.ndarray:
    target = np.stack([np.cos(atr), np.sin(atr)], axis=1)
    out = decoding.LinearDecoder(ridge=p.ridge).fit(xtr, target).predict(xte)
    return np.arctan2(out[:, 1], out[:, 0])


def decode_mlp(xtr, atr, xte, p: Params, seed: int) -> np.ndarray:
    """A one-hidden-layer MLP on standardized counts, trained with Adam on
    (cos, sin) targets; seeded without touching torch's global generator."""
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    x = torch.as_tensor((xtr - mean) / std, dtype=torch.float32)
    y = torch.as_tensor(np.stack([np.cos(atr), np.sin(atr)], axis=1), dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], p.hidden), torch.nn.ReLU(),
                                    torch.nn.Linear(p.hidden, 2))
    opt = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: worker threads only add overhead
    try:
        for _ in range(p.epochs):  # full-batch steps
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = model(torch.as_tensor((xte - mean) / std, dtype=torch.float32)).numpy()
    finally:
        torch.set_num_threads(threads)
    return np.arctan2(out[:, 1], out[:, 0])


def figure(sizes, errors: dict[str, np.ndarray], angles, counts, p: Params, examples: np.ndarray):
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_tc, ax_err = fig.subplots(1, 2)
    bins = 8
    centre = (np.floor(angles / (2 * np.pi / bins)) + 0.5) * (2 * np.pi / bins)
    tc = decoding.tuning_curves(counts[:, examples] / p.t_on, centre)
    fit = decoding.fit_cosine_tuning(counts[:, examples] / p.t_on, angles)
    grid = np.linspace(0, 2 * np.pi, 200)
    for k in range(len(examples)):
        line = ax_tc.errorbar(np.degrees(tc.stimuli), tc.mean[:, k], tc.sem[:, k], fmt="o", ms=3)
        ax_tc.plot(np.degrees(grid), np.maximum(fit.predict(grid)[:, k], 0), color=line[0].get_color(), lw=1)
    ax_tc.set_xlabel("reach direction (deg)")
    ax_tc.set_ylabel("rate (Hz)")
    ax_tc.set_title("tuning curves of example neurons, cosine fits", fontsize="medium")
    for name, err in errors.items():
        ax_err.errorbar(sizes, err.mean(1), err.std(1), fmt="o-", color=COLORS[name], label=name, capsize=2)
    ax_err.axhline(90, color="gray", ls=":", label="chance")
    ax_err.set_xscale("log", base=2)
    ax_err.set_yscale("log")
    ax_err.set_xlabel("neurons")
    ax_err.set_ylabel("mean absolute error (deg)")
    ax_err.set_title("decoding error vs population size", fontsize="medium")
    ax_err.legend(frameon=False, fontsize="small")
    for ax in (ax_tc, ax_err):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the BCI decoding study into ``record``; returns the mean decoding
    error (degrees) of each decoder for each population size."""
    p = Params()
    n = p.quick_neurons if quick else p.n_neurons
    n_trials = p.quick_trials if quick else p.n_trials
    if n_trials % p.parallel:
        raise ValueError(f"bci_decoding: the number of trials ({n_trials}) must be a multiple of "
                         f"parallel ({p.parallel})")
    repeats = p.quick_repeats if quick else p.repeats
    sizes = [s for s in p.sizes if s <= n]
    task_seed, sim_seed, subset_seed, mlp_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(4))
    record.write_config({**dataclasses.asdict(p), "quick": quick, "neurons": n, "trials": n_trials,
                         "repeats_used": repeats, "sizes_used": sizes, "task_seed": task_seed,
                         "simulator_seed": sim_seed, "subset_seed": subset_seed, "mlp_seed": mlp_seed}, seed)

    rng = np.random.default_rng(task_seed)
    preferred = rng.uniform(0, 2 * np.pi, n)
    base = rng.uniform(*p.baseline, n)
    depth = rng.uniform(*p.depth, n)
    angles = rng.uniform(0, 2 * np.pi, n_trials)
    print(f"BCI decoding: {n} cosine-tuned LIF neurons, {n_trials} reaches of {p.t_on * 1e3:g} ms "
          f"({p.parallel} side by side), {p.backend}, seed {seed}")
    sim = na.Simulator(build(p, n), p.backend, seed=sim_seed, **dict(p.backend_options))
    values = drive(p, angles, preferred, base, depth, rng)  # trial k runs in copy k % parallel
    result = sim.present({"drive": values.reshape(-1, p.parallel * n)}, p.t_on, p.t_off)
    counts = decoding.spike_counts(result, "m1").reshape(n_trials, n).astype(np.float64)
    rate = counts.mean() / p.t_on

    n_train = int(round(p.train_fraction * n_trials))
    atr, ate = angles[:n_train], angles[n_train:]
    subset_rng = np.random.default_rng(subset_seed)
    errors = {name: np.zeros((len(sizes), repeats)) for name in DECODERS}
    for i, size in enumerate(sizes):          # a short sweep; each decoder is vectorized over trials
        for r in range(repeats):
            cols = np.sort(subset_rng.choice(n, size, replace=False))
            xtr, xte = counts[:n_train, cols], counts[n_train:, cols]
            estimates = {"population vector": decode_pv(xtr, atr, xte),
                         "linear": decode_linear(xtr, atr, xte, p),
                         "MLP": decode_mlp(xtr, atr, xte, p, mlp_seed + 1000 * i + r)}
            for name, est in estimates.items():
                errors[name][i, r] = mean_abs_error_deg(est, ate)

    table = [{"neurons": size, **{f"{name} error (deg)": errors[name][i].mean() for name in DECODERS}}
             for i, size in enumerate(sizes)]
    rows = [{"neurons": size, "decoder": name, "repeat": r, "error_deg": errors[name][i, r],
             "train_trials": n_train, "test_trials": n_trials - n_train}
            for i, size in enumerate(sizes) for name in DECODERS for r in range(repeats)]
    print()
    print(markdown_table(table))
    print(f"\nmean rate {rate:.1f} Hz; {n_train} training and {n_trials - n_train} test trials; "
          f"mean over {repeats} random neuron subsets; chance = 90 deg")

    record.write_metrics(rows)
    examples = np.argsort(preferred)[np.linspace(0, n - 1, 4).astype(int)]
    record.save_figure(figure(sizes, errors, angles, counts, p, examples), "decoding")
    text = "\n\n".join([
        f"{n} LIF neurons (mean rate {rate:.1f} Hz) with cosine-tuned Poisson drive, {n_trials} random reach "
        f"directions, counts over {p.t_on * 1e3:g} ms, dt = {p.dt * 1e3:g} ms, {p.backend} backend, seed "
        f"{seed}. {n_train} training and {n_trials - n_train} test trials; errors are the mean absolute "
        f"angular error on the test trials, averaged over {repeats} random neuron subsets per size. "
        "Chance is 90 degrees.",
        "![decoding](decoding.png)",
    ])
    record.write_summary("BCI decoding: reach direction from motor-cortex spikes", table, text)
    return {"sizes": sizes, "mean_rate_hz": rate,
            "error_deg": {name: errors[name].mean(1).tolist() for name in DECODERS}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
