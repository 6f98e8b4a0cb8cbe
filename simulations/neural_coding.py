"""Neural coding: rate vs latency vs population codes, decoding accuracy vs readout window and spikes used.

The task: K stimulus classes, each a prototype vector of m features in
[0.1, 0.9] (seeded). On every trial each input neuron sees its feature's
prototype value plus private Gaussian noise (trial-to-trial variability),
clipped to [0, 1]. The same trials are encoded three ways, each by m * p
input neurons (p per feature), all in one neuroai network run with
``Simulator.present``:

- rate code (``PoissonRate``): Poisson spikes at ``value * max_rate``;
- latency code (``Latency``, linear): one spike per neuron at
  ``(1 - value) * t_max``, earlier for larger values;
- population code (``PopulationCode``, ``size=p``): the p neurons of a
  feature have Gaussian tuning curves spread over [0, 1] and fire Poisson
  spikes at ``max_rate * exp(-(value - pref)^2 / (2 sigma^2))``.

Readout (``neuroai.decoding.accuracy_vs_window``): only the spikes in the
first ``w`` ms after stimulus onset; spike counts for the rate and
population codes, first-spike times (censored at ``w``) for the latency
code; a nearest-class-mean classifier, 5-fold cross-validated. Reported per
window: accuracy and the mean number of spikes the readout used per trial.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import neuroai as na
from neuroai import decoding
from neuroai.cli import script_main
from neuroai.experiments import RunRecord, markdown_table

CODES = ("rate", "latency", "population")
READOUT = {"rate": "counts", "latency": "first_spike", "population": "counts"}
COLORS = {"rate": "tab:blue", "latency": "tab:orange", "population": "tab:green"}


@dataclass(frozen=True)
class Params:
    """Every parameter of the study. Times in seconds, rates in Hz."""

    dt: float = 1e-3
    n_classes: int = 8
    n_features: int = 4             # m
    per_feature: int = 10           # p neurons per feature and code
    trials_per_class: int = 60
    quick_classes: int = 8          # --quick
    quick_trials_per_class: int = 30
    noise: float = 0.2              # private per-neuron stimulus noise (std)
    t_on: float = 0.1               # presentation
    max_rate: float = 100.0         # rate and population codes
    t_max: float = 0.05             # latency code: a value of 0 would fire at t_max
    sigma: float = 0.15             # population code tuning width
    windows: tuple[float, ...] = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1)
    classifier: str = "nearest_mean"
    folds: int = 5
    target: float = 0.8             # report the first window reaching this accuracy
    backend: str = "brian2"         # the spikes come from the encoders: identical on "torch"
    backend_options: tuple[tuple[str, str], ...] = (("target", "numpy"),)


def encoders(p: Params) -> dict:
    """Code name -> encoder."""
    return {"rate": na.PoissonRate(max_rate=p.max_rate),
            "latency": na.Latency(t_max=p.t_max, kind="linear"),
            "population": na.PopulationCode(0.0, 1.0, sigma=p.sigma, max_rate=p.max_rate, size=p.per_feature)}


def make_trials(p: Params, n_classes: int, per_class: int, rng: np.random.Generator):
    """Prototypes (K, m), shuffled labels (n_trials,) and per-neuron stimulus
    values (n_trials, m * p) in [0, 1]."""
    prototypes = rng.uniform(0.1, 0.9, (n_classes, p.n_features))
    labels = rng.permutation(np.repeat(np.arange(n_classes), per_class))
    clean = np.repeat(prototypes[labels], p.per_feature, axis=1)
    values = np.clip(clean + p.noise * rng.standard_normal(clean.shape), 0.0, 1.0)
    return prototypes, labels, values


def first_reaching(curve: decoding.ReadoutCurve, target: float) -> tuple[float, float] | None:
    """(window, spikes used) of the first window whose accuracy reaches ``target``; None if none does."""
    hit = np.nonzero(curve.accuracy >= target)[0]
    return None if not len(hit) else (float(curve.windows[hit[0]]), float(curve.spikes[hit[0]]))


def figure(p: Params, curves: dict[str, decoding.ReadoutCurve]):
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_t, ax_s = fig.subplots(1, 2)
    for code, c in curves.items():
        ax_t.plot(c.windows * 1e3, c.accuracy, "o-", color=COLORS[code], label=f"{code} ({READOUT[code]})")
        ax_s.plot(np.maximum(c.spikes, 0.1), c.accuracy, "o-", color=COLORS[code], label=code)
    chance = next(iter(curves.values())).chance
    for ax in (ax_t, ax_s):
        ax.axhline(chance, color="gray", ls=":", label="chance")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("decoding accuracy")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax_t.set_xlabel("readout window [0, w) after onset (ms)")
    ax_s.set_xlabel("spikes used per trial")
    ax_s.set_xscale("log")
    ax_t.legend(frameon=False, fontsize="small")
    ax_t.set_title("accuracy vs readout time", fontsize="medium")
    ax_s.set_title("accuracy vs spikes used", fontsize="medium")
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the coding study into ``record``; returns per-code accuracy and
    spikes used at each readout window."""
    p = Params()
    n_classes = p.quick_classes if quick else p.n_classes
    per_class = p.quick_trials_per_class if quick else p.trials_per_class
    task_seed, sim_seed, cv_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
    record.write_config({**dataclasses.asdict(p), "quick": quick, "classes": n_classes,
                         "trials_per_class": per_class, "task_seed": task_seed, "simulator_seed": sim_seed,
                         "cv_seed": cv_seed}, seed)

    _, labels, values = make_trials(p, n_classes, per_class, np.random.default_rng(task_seed))
    n = p.n_features * p.per_feature
    net = na.Network(dt=p.dt)
    for code, enc in encoders(p).items():
        net.add_input(code, n, enc)
        net.monitor(code)
    print(f"neural coding: {n_classes} classes x {per_class} trials, {p.n_features} features x "
          f"{p.per_feature} neurons per code, noise {p.noise}, {p.backend}, seed {seed}")
    sim = na.Simulator(net, p.backend, seed=sim_seed, **dict(p.backend_options))
    result = sim.present({code: values for code in CODES}, p.t_on)

    curves = {code: decoding.accuracy_vs_window(result, code, labels, p.windows, readout=READOUT[code],
                                                classifier=p.classifier, folds=p.folds, seed=cv_seed)
              for code in CODES}
    chance = curves["rate"].chance
    reach = {code: first_reaching(c, p.target) for code, c in curves.items()}
    table, rows = [], []
    for j, w in enumerate(p.windows):
        line = {"window (ms)": round(w * 1e3, 3)}
        for code, c in curves.items():
            line[f"{code} acc"] = c.accuracy[j]
            line[f"{code} spikes"] = c.spikes[j]
            rows.append({"code": code, "readout": READOUT[code], "window_ms": w * 1e3, "accuracy": c.accuracy[j],
                         "spikes_used": c.spikes[j], "chance": chance, "neurons": n, "trials": len(labels)})
        table.append(line)
    print()
    print(markdown_table(table))
    print(f"\nchance = {chance:.3f}; spikes = mean spikes per trial in [0, w) that the readout used")
    for code in CODES:
        print(f"{code}: " + ("never reaches" if reach[code] is None else
                             f"reaches {p.target:.0%} at {reach[code][0] * 1e3:g} ms with {reach[code][1]:.1f} spikes"))

    record.write_metrics(rows)
    record.save_figure(figure(p, curves), "accuracy")
    text = "\n\n".join([
        f"{n_classes} classes, {len(labels)} trials, {p.n_features} features, {n} neurons per code, private "
        f"noise {p.noise}, dt = {p.dt * 1e3:g} ms, {p.backend} backend, seed {seed}. Readout: "
        f"{p.classifier} classifier, {p.folds}-fold cross-validation, on spike counts (rate, population) or "
        f"first-spike times (latency) in [0, w). Chance = {chance:.3f}.",
        f"First window reaching {p.target:.0%} accuracy, and the spikes used there: " + "; ".join(
            f"{code}: " + ("never" if reach[code] is None else
                           f"{reach[code][0] * 1e3:g} ms, {reach[code][1]:.1f} spikes") for code in CODES) + ".",
        "The latency code spends at most one spike per neuron, all of them by t_max = "
        f"{p.t_max * 1e3:g} ms; the rate and population codes accumulate Poisson evidence for as long as the "
        "window lasts, and pay for it in spikes.",
        "![accuracy](accuracy.png)",
    ])
    record.write_summary("Neural coding: rate vs latency vs population codes", table, text)
    return {"chance": chance, "windows_ms": [w * 1e3 for w in p.windows],
            "accuracy": {code: c.accuracy.tolist() for code, c in curves.items()},
            "spikes": {code: c.spikes.tolist() for code, c in curves.items()},
            "reach_window_ms": {code: None if r is None else r[0] * 1e3 for code, r in reach.items()},
            "reach_spikes": {code: None if r is None else r[1] for code, r in reach.items()}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
