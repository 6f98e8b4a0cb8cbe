"""Your own models: neurons, synapses and a learning rule written as equations, on both backends.

Four models that neuroai does not ship, each written in a few lines of
Brian2's syntax (``NeuronModel``, ``SynapseModel``) and run by the Brian2
backend as written and by the torch backend as compiled tensor code, with
identical float64 spikes:

1. f-I curves of a quadratic (QIF) and an exponential (EIF) integrate-and-fire
   neuron, one per-neuron input current each, against their analytic firing
   rates: ``1/T`` with ``T = integral of dv / (dv/dt)`` from reset to peak
   (closed form for the QIF, ``tau/sqrt(I) [atan(v_peak/sqrt(I)) -
   atan(v_r/sqrt(I))]``; a fine quadrature for the EIF).
2. Tsodyks-Markram short-term depression and facilitation: the efficacy
   ``u x`` of the last spike of a regular train, against the closed-form
   fixed point of the event-driven map ``u+ = U + (1 - U) u-``.
3. A Clopath-style voltage-based STDP rule: the weight change after five
   pre-post (+10 ms) and post-pre (-10 ms) pairings at pairing frequencies
   from 1 to 50 Hz (post-pre pairings depress at low frequencies and
   potentiate at high ones, as in Sjostrom et al. 2001).
4. A written neuron trained with surrogate gradients in torch (float32) to
   fire target spike counts, then run in Brian2 and torch (float64) with the
   same spikes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import brian2 as b2
import numpy as np
import torch
from matplotlib.figure import Figure

import neuroai as na
from neuroai.backends.torch import TorchNetwork
from neuroai.cli import script_main
from neuroai.coding import pairing_protocol
from neuroai.experiments import RunRecord, markdown_table

BACKENDS = {"brian2": {}, "torch": {"dtype": "float64"}}


@dataclass(frozen=True)
class Params:
    """Times in seconds, rates in Hz; the QIF is dimensionless, the EIF in SI units."""

    fi_dt: float = 2e-5
    fi_duration: float = 0.5
    quick_fi_duration: float = 0.2
    qif_tau: float = 10e-3
    qif_v_peak: float = 10.0
    qif_v_reset: float = -10.0
    qif_currents: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    eif_currents_nA: tuple[float, ...] = (0.25, 0.3, 0.4, 0.5, 0.7, 1.0)
    tm_dt: float = 5e-4
    tm_duration: float = 4.0
    quick_tm_duration: float = 2.0
    tm_frequencies: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0)
    quick_tm_frequencies: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0)
    clopath_frequencies: tuple[float, ...] = (1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0)
    quick_clopath_frequencies: tuple[float, ...] = (5.0, 20.0, 50.0)
    clopath_pairs: int = 5
    clopath_lag: float = 10e-3
    train_steps: int = 300
    train_iterations: int = 40
    quick_train_iterations: int = 15


EIF = dict(tau_m=20e-3, E_L=-70e-3, v_T=-50e-3, delta_T=2e-3, R=100e6, v_peak=-40e-3, v_r=-65e-3)

TSODYKS_MARKRAM = {  # regime -> (U, tau_d, tau_f), Markram et al. (1998)-like values
    "depressing": (0.5, 0.5, 0.02),
    "facilitating": (0.1, 0.1, 0.5),
}

CLOPATH_NEURON = na.NeuronModel(  # a normalized LIF whose spike leaves a 2 ms depolarization z
    "dv/dt = -v/tau : 1 (unless refractory)\ndz/dt = -z/tau_z : 1\n"
    "dv_lp1/dt = (v + z - v_lp1)/tau_minus : 1\ndv_lp2/dt = (v + z - v_lp2)/tau_plus : 1",
    threshold="v > 1", reset="v = 0\nz = z_spike", refractory=2e-3, method="exact",
    parameters=dict(tau=15e-3, tau_z=2e-3, z_spike=4.0, tau_minus=10e-3, tau_plus=7e-3))
CLOPATH_RULE = na.SynapseModel(  # Clopath et al. (2010): LTD at presynaptic spikes, LTP continuous
    "dw/dt = a_ltp*xbar*(v_post + z_post - theta_p)*int(v_post + z_post > theta_p)"
    "*(v_lp2_post - theta_m)*int(v_lp2_post > theta_m) : 1 (clock-driven)\n"
    "dxbar/dt = -xbar/tau_x : 1 (clock-driven)",
    on_pre="v_post += w\nw = clip(w - a_ltd*(v_lp1_post - theta_m)*int(v_lp1_post > theta_m), 0, w_max)\n"
           "xbar += 1",
    method="euler", parameters=dict(a_ltp=20.0, a_ltd=0.02, theta_p=1.0, theta_m=0.0, tau_x=15e-3, w_max=1.0))

TRAINED_NEURON = na.NeuronModel(  # an adapting neuron with a synaptic current: trained in torch
    "dv/dt = (-v + I - a)/tau : 1 (unless refractory)\ndI/dt = -I/tau_s : 1\nda/dt = -a/tau_a : 1",
    threshold="v > 1", reset="v = 0\na += 0.2", refractory=1e-3, method="exact",
    parameters=dict(tau=10e-3, tau_s=5e-3, tau_a=50e-3))


def run_both(net: na.Network, duration: float, inputs=None) -> dict:
    """Backend -> (simulator, result) of one run."""
    out = {}
    for backend, options in BACKENDS.items():
        sim = na.Simulator(net, backend, seed=0, **options)
        out[backend] = (sim, sim.run(duration, inputs=inputs))
    return out


def same_spikes(results, population: str) -> bool:
    a, b = (r.spikes[population] for _, r in results.values())
    return bool(np.array_equal(a.steps, b.steps) and np.array_equal(a.indices, b.indices))


def measured_rates(result, population: str, n: int, dt: float) -> np.ndarray:
    """1 / mean inter-spike interval of each neuron (Hz), from its second spike on (NaN: fewer than 3)."""
    spikes = result.spikes[population]
    rates = np.full(n, np.nan)
    for k in range(n):
        steps = spikes.steps[spikes.indices == k]
        if len(steps) >= 3:
            rates[k] = 1.0 / (np.diff(steps[1:]).mean() * dt)
    return rates


# --- 1. f-I curves -----------------------------------------------------------

def qif_rate(current: np.ndarray, p: Params) -> np.ndarray:
    root = np.sqrt(current)
    return root / (p.qif_tau * (np.arctan(p.qif_v_peak / root) - np.arctan(p.qif_v_reset / root)))


def eif_rate(current: np.ndarray) -> np.ndarray:
    """1 / (time from reset to peak), integrating dv / (dv/dt) on a fine grid (trapezoid rule)."""
    v = np.linspace(EIF["v_r"], EIF["v_peak"], 400_001)
    rates = []
    for i in current:
        dvdt = (EIF["E_L"] - v + EIF["delta_T"] * np.exp((v - EIF["v_T"]) / EIF["delta_T"]) + EIF["R"] * i) \
            / EIF["tau_m"]
        rates.append(1.0 / np.trapezoid(1.0 / dvdt, v))
    return np.asarray(rates)


def f_i_curves(p: Params, duration: float) -> dict:
    qif_currents = np.asarray(p.qif_currents)
    eif_currents = np.asarray(p.eif_currents_nA) * 1e-9
    qif = na.NeuronModel("dv/dt = (v**2 + I_ext)/tau : 1", threshold="v > v_peak", reset="v = v_r", method="rk4",
                         parameters=dict(tau=p.qif_tau, I_ext=qif_currents, v_peak=p.qif_v_peak,
                                         v_r=p.qif_v_reset))
    eif = na.NeuronModel("dv/dt = (E_L - v + delta_T*exp((v - v_T)/delta_T) + R*I_ext)/tau_m : volt",
                         threshold="v > v_peak", reset="v = v_r", method="rk4",
                         parameters={**EIF, "R": EIF["R"] * b2.ohm, "I_ext": eif_currents * b2.amp})
    out = {}
    for name, model, currents, analytic, v0 in (("QIF", qif, qif_currents, qif_rate(qif_currents, p), -10.0),
                                                ("EIF", eif, eif_currents, eif_rate(eif_currents), -65e-3)):
        net = na.Network(dt=p.fi_dt)
        net.add_population(name, len(currents), model, v_init=v0)
        net.monitor(name)
        results = run_both(net, duration)
        out[name] = dict(currents=currents, analytic=analytic, identical=same_spikes(results, name),
                         measured={b: measured_rates(r, name, len(currents), p.fi_dt) for b, (_, r) in results.items()})
    return out


# --- 2. Tsodyks-Markram ------------------------------------------------------

def tm_model(U: float, tau_d: float, tau_f: float) -> na.SynapseModel:
    return na.SynapseModel(
        "w : 1\ndx/dt = (1 - x)/tau_d : 1 (event-driven)\ndu/dt = (U - u)/tau_f : 1 (event-driven)",
        on_pre="u += U*(1 - u)\nI_post += w*u*x\nx -= u*x",
        parameters=dict(U=U, tau_d=tau_d, tau_f=tau_f), init={"u": U, "x": 1.0})


def tm_steady_efficacy(U: float, tau_d: float, tau_f: float, frequency: np.ndarray) -> np.ndarray:
    """u+ x- at the fixed point of the map from one spike of a regular train to the next."""
    e_d, e_f = np.exp(-1.0 / (frequency * tau_d)), np.exp(-1.0 / (frequency * tau_f))
    u_plus = U * (1 + (1 - U) * (1 - e_f)) / (1 - (1 - U) * e_f)
    x_minus = (1 - e_d) / (1 - (1 - u_plus) * e_d)
    return u_plus * x_minus


def short_term_plasticity(p: Params, frequencies: np.ndarray, duration: float) -> dict:
    steps = int(round(duration / p.tm_dt))
    periods = np.round(1.0 / (frequencies * p.tm_dt)).astype(int)
    raster = np.zeros((steps, len(frequencies)), bool)
    for k, period in enumerate(periods):
        raster[period // 2::period, k] = True
    out = {}
    for regime, (U, tau_d, tau_f) in TSODYKS_MARKRAM.items():
        net = na.Network(dt=p.tm_dt)
        net.add_input("trains", len(frequencies), na.SpikeArray())
        net.add_population("target", len(frequencies), na.NeuronModel(
            "dv/dt = (-v + I)/tau : 1\ndI/dt = -I/tau_s : 1", parameters=dict(tau=10e-3, tau_s=5e-3)))
        net.connect("trains", "target", na.OneToOne(), weight=1.0, synapse_model=tm_model(U, tau_d, tau_f),
                    name="tm")
        net.monitor("tm", "u")
        net.monitor("tm", "x")
        net.monitor("target", "v")
        results = run_both(net, duration, {"trains": raster})
        measured = {}
        for backend, (_, result) in results.items():
            u, x = result.trace("tm.u").values[-1], result.trace("tm.x").values[-1]  # after the last spike
            measured[backend] = u * x / (1 - u)  # u+ x-, since x+ = x- (1 - u+)
        same = all(np.array_equal(results["brian2"][1].trace(k).values, results["torch"][1].trace(k).values)
                   for k in ("tm.u", "tm.x", "target.v"))
        out[regime] = dict(analytic=tm_steady_efficacy(U, tau_d, tau_f, frequencies), measured=measured,
                           identical=same)
    return out


# --- 3. Clopath-style STDP ----------------------------------------------------

def clopath_pairings(p: Params, frequencies: np.ndarray, dt: float = 1e-4, w0: float = 0.2) -> dict:
    """Weight change of one synapse per (frequency, lag): ``clopath_pairs`` presynaptic spikes at that
    frequency, each with a postsynaptic spike ``lag`` later (forced by a drive one step before)."""
    lags = np.array([p.clopath_lag, -p.clopath_lag])
    freq, lag = np.repeat(frequencies, 2), np.tile(lags, len(frequencies))
    n = len(freq)
    pre, drive = pairing_protocol(dt, lag, 1.0 / freq, p.clopath_pairs, margin=0.03)
    steps = len(pre)
    net = na.Network(dt=dt)
    net.add_input("pre", n, na.SpikeArray())
    net.add_input("drive", n, na.SpikeArray())
    net.add_population("post", n, CLOPATH_NEURON)
    net.connect("pre", "post", na.OneToOne(), weight=w0, synapse_model=CLOPATH_RULE, name="syn")
    net.connect("drive", "post", na.OneToOne(), weight=5.0, synapse=na.Delta("v"))
    net.monitor("post")
    results = run_both(net, steps * dt, {"pre": pre, "drive": drive})
    fired = np.bincount(results["brian2"][1].spike_indices("post"), minlength=n)
    if not np.all(fired == p.clopath_pairs):
        raise RuntimeError(f"pairing protocol broken: postsynaptic spike counts {fired}, expected {p.clopath_pairs}")
    change = {b: sim.to_network().projections["syn"].weights - w0 for b, (sim, _) in results.items()}
    return dict(frequencies=frequencies, pre_post=change["brian2"][0::2], post_pre=change["brian2"][1::2],
                identical=bool(np.array_equal(change["brian2"], change["torch"])) and same_spikes(results, "post"))


# --- 4. training a written neuron ----------------------------------------------

def train_written_neuron(p: Params, iterations: int, seed: int) -> dict:
    """Surrogate-gradient training of TRAINED_NEURON's input weights to target spike counts,
    then the trained network in Brian2 and torch (float64)."""
    torch.manual_seed(seed)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 20, na.SpikeArray())
    net.add_population("out", 4, TRAINED_NEURON)
    net.connect("inp", "out", weight=na.Uniform(0.0, 1.0, seed=seed), synapse=na.Delta("I"), name="w")
    net.monitor("out")
    generator = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(p.train_steps, 8, 20, generator=generator) < 0.02).float()
    target = torch.tensor([1.0, 3.0, 5.0, 2.0])
    module = TorchNetwork(net, dtype="float32", device="cpu")
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    losses = []
    for _ in range(iterations):
        optimizer.zero_grad()
        counts = module({"inp": spikes}).spikes["out"].sum(0).mean(0)
        loss = ((counts - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    trained = module.to_network()
    results = run_both(trained, p.train_steps * 1e-4, {"inp": spikes[:, 0].numpy() > 0})
    return dict(losses=losses, identical=same_spikes(results, "out"),
                spikes=int(results["brian2"][1].spike_count("out")))


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    p = Params()
    record.write_config({**dataclasses.asdict(p), "quick": quick}, seed)
    fi = f_i_curves(p, p.quick_fi_duration if quick else p.fi_duration)
    tm_frequencies = np.asarray(p.quick_tm_frequencies if quick else p.tm_frequencies)
    tm = short_term_plasticity(p, tm_frequencies, p.quick_tm_duration if quick else p.tm_duration)
    clopath = clopath_pairings(p, np.asarray(p.quick_clopath_frequencies if quick else p.clopath_frequencies))
    training = train_written_neuron(p, p.quick_train_iterations if quick else p.train_iterations, seed)

    rows, metrics, csv = [], {}, []
    for name, f in fi.items():
        err = max(np.nanmax(np.abs(m / f["analytic"] - 1)) for m in f["measured"].values())
        metrics[f"{name}_max_rate_error"] = float(err)
        metrics[f"{name}_identical"] = f["identical"]
        rows.append({"model": f"{name} f-I curve", "compared with": "analytic rate",
                     "max relative error": err, "backends identical": f["identical"]})
        csv += [{"part": f"{name} f-I", "x": c, "analytic": a, **{b: m[k] for b, m in f["measured"].items()}}
                for k, (c, a) in enumerate(zip(f["currents"], f["analytic"]))]
    for regime, t in tm.items():
        err = max(np.abs(m / t["analytic"] - 1).max() for m in t["measured"].values())
        metrics[f"tm_{regime}_max_error"] = float(err)
        metrics[f"tm_{regime}_identical"] = t["identical"]
        rows.append({"model": f"Tsodyks-Markram, {regime}", "compared with": "closed-form steady state",
                     "max relative error": err, "backends identical": t["identical"]})
        csv += [{"part": f"TM {regime}", "x": f, "analytic": a, **{b: m[k] for b, m in t["measured"].items()}}
                for k, (f, a) in enumerate(zip(tm_frequencies, t["analytic"]))]
    metrics["clopath_identical"] = clopath["identical"]
    metrics["clopath_pre_post"] = clopath["pre_post"].tolist()
    metrics["clopath_post_pre"] = clopath["post_pre"].tolist()
    rows.append({"model": "Clopath-style STDP", "compared with": "post-pre: LTD at low, LTP at high frequency",
                 "max relative error": float("nan"), "backends identical": clopath["identical"]})
    csv += [{"part": "Clopath", "x": f, "pre_post": a, "post_pre": b}
            for f, a, b in zip(clopath["frequencies"], clopath["pre_post"], clopath["post_pre"])]
    metrics.update(train_loss_first=training["losses"][0], train_loss_last=training["losses"][-1],
                   trained_identical=training["identical"], trained_spikes=training["spikes"])
    rows.append({"model": "written neuron, surrogate gradients",
                 "compared with": f"loss {training['losses'][0]:.2f} -> {training['losses'][-1]:.2f}",
                 "max relative error": float("nan"), "backends identical": training["identical"]})
    table = markdown_table(rows)
    print(table)
    clopath_rows = [{"pairing frequency (Hz)": f, "pre-post +10 ms": a, "post-pre -10 ms": b}
                    for f, a, b in zip(clopath["frequencies"], clopath["pre_post"], clopath["post_pre"])]
    print(markdown_table(clopath_rows))
    record.write_metrics(csv)

    fig = Figure(figsize=(10, 7.5), layout="constrained")
    (ax_fi, ax_tm), (ax_cl, ax_tr) = fig.subplots(2, 2)
    for name, f in fi.items():
        x = f["currents"] / f["currents"].max()
        ax_fi.plot(x, f["analytic"], color="0.6", lw=2)
        ax_fi.plot(x, f["measured"]["torch"], "o", label=f"{name} (line: analytic)")
    ax_fi.set(xlabel="input current / largest", ylabel="rate (Hz)", title="f-I curves")
    ax_fi.legend(frameon=False)
    fine = np.geomspace(tm_frequencies[0], tm_frequencies[-1], 200)
    for regime, t in tm.items():
        ax_tm.plot(fine, tm_steady_efficacy(*TSODYKS_MARKRAM[regime], fine), color="0.6", lw=2)
        ax_tm.plot(tm_frequencies, t["measured"]["torch"], "o", label=f"{regime} (line: closed form)")
    ax_tm.set(xscale="log", xlabel="presynaptic rate (Hz)", ylabel="steady-state efficacy u x",
              title="Tsodyks-Markram")
    ax_tm.set_xticks(tm_frequencies, [f"{f:g}" for f in tm_frequencies])
    ax_tm.minorticks_off()
    ax_tm.legend(frameon=False)
    ax_cl.plot(clopath["frequencies"], clopath["pre_post"], "o-", label="pre-post (+10 ms)")
    ax_cl.plot(clopath["frequencies"], clopath["post_pre"], "s-", label="post-pre (-10 ms)")
    ax_cl.axhline(0, color="k", lw=0.5)
    ax_cl.set(xlabel="pairing frequency (Hz)", ylabel="weight change (5 pairings)", title="Clopath-style STDP")
    ax_cl.legend(frameon=False)
    ax_tr.plot(training["losses"])
    ax_tr.set(xlabel="iteration", ylabel="loss (spike counts)", yscale="log", title="written neuron, trained")
    record.save_figure(fig, "custom_models")
    record.write_summary("Your own models", rows, markdown_table(clopath_rows) + "\n\n![models](custom_models.png)")
    return metrics


if __name__ == "__main__":
    raise SystemExit(script_main(run))
