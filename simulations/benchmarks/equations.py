"""What does writing a model as equations cost? A NeuronModel or SynapseModel against the same built-in model.

Three built-in models and their equations, written out (the same integrator,
the same arithmetic, so the same spikes): LIF with an exponential current
(``exact``), Izhikevich (``euler``) and AdEx with a current (``euler``), each
a population of ``--neurons`` neurons driven by 200 Poisson inputs; and the
built-in pair STDP against the same rule written as a SynapseModel, on the
synapses from those inputs onto LIF neurons (at batch 64 the built-in rule
sums the copies' changes into one weight matrix, the written one keeps a
weight per copy and synapse). Timed,
after a warm-up run that generates and compiles the code: a Brian2 run on
the numpy and cython targets, and the torch module's forward pass in float32
without gradients at batch 1 and 64 (CPU, one thread). Each cell is the
median of ``--repeats`` runs, alternating built-in and written (first
checked to fire the very same spikes in float64). Reported:
seconds and written/built-in (target: at most 1.2).

Usage: ``python simulations/benchmarks/equations.py [--quick]``
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import neuroai as na
from neuroai.backends.torch import TorchNetwork

DT = 1e-4
N_INPUT = 200

LIF = na.LIF(tau_m=20e-3, t_ref=2e-3)
LIF_WRITTEN = na.NeuronModel(
    "dv/dt = (v_rest - v + R*(i_bias + I_syn))/tau_m : 1 (unless refractory)\ndI_syn/dt = -I_syn/tau_s : 1",
    threshold="v > v_th", reset="v = v_reset", refractory=2e-3, method="exact",
    parameters=dict(v_rest=0.0, R=1.0, i_bias=0.0, tau_m=20e-3, tau_s=5e-3, v_th=1.0, v_reset=0.0))
IZHIKEVICH = na.Izhikevich.of_type("regular_spiking", i_bias=3.0)
IZHIKEVICH_WRITTEN = na.NeuronModel(
    "dv/dt = (0.04*v**2 + 5*v + 140 - u + i_bias)/t_unit : 1\ndu/dt = a*(b*v - u)/t_unit : 1",
    threshold="v > v_peak", reset="v = c\nu += d", method="euler",
    parameters=dict(a=0.02, b=0.2, c=-65.0, d=8.0, i_bias=3.0, v_peak=30.0, t_unit=1e-3))
ADEX = na.AdEx(i_bias=0.1e-9)
ADEX_WRITTEN = na.NeuronModel(
    "dv/dt = (g_L*(E_L - v) + g_L*delta_T*exp((v - v_T)/delta_T) - w + i_bias + I_syn)/C : volt\n"
    "dw/dt = (a*(v - E_L) - w)/tau_w : amp\ndI_syn/dt = -I_syn/tau_s : amp",
    threshold="v > v_peak", reset="v = v_reset\nw += b", method="euler",
    parameters=dict(C=200e-12, g_L=10e-9, E_L=-70e-3, v_T=-50e-3, delta_T=2e-3, a=2e-9, tau_w=30e-3, b=0.0,
                    v_reset=-58e-3, v_peak=0.0, i_bias=0.1e-9, tau_s=5e-3))
STDP = na.plasticity.STDP(tau_pre=20e-3, tau_post=20e-3, a_plus=0.01, a_minus=0.0105, w_min=0.0, w_max=1.0)
STDP_WRITTEN = na.SynapseModel(  # the built-in rule's statements, as the Brian2 backend writes them
    "w : 1\ndapre/dt = -apre/tau_pre : 1 (clock-driven)\ndapost/dt = -apost/tau_post : 1 (clock-driven)",
    on_pre="v_post += w\napre += 1.0\nw = clip(w - a_minus * apost, w_min, w_max)",
    on_post="apost += 1.0\nw = clip(w + a_plus * apre, w_min, w_max)", method="exact",
    parameters=dict(tau_pre=20e-3, tau_post=20e-3, a_plus=0.01, a_minus=0.0105, w_min=0.0, w_max=1.0))
PAIRS = {  # name -> (built-in, written, weight, initial v range), each a neuron model or (LIF, connect's arguments)
    "LIF (exact)": (LIF, LIF_WRITTEN, 0.5, (0.0, 1.0)),
    "Izhikevich (euler)": (IZHIKEVICH, IZHIKEVICH_WRITTEN, 3.0, (-70.0, -60.0)),
    "AdEx (euler)": (ADEX, ADEX_WRITTEN, 0.1e-9, (-70e-3, -55e-3)),
    "pair STDP onto LIF": ((LIF, {"plasticity": STDP}), (LIF, {"synapse_model": STDP_WRITTEN}), 0.5, (0.0, 1.0)),
}


def network(model, weight: float, v_range, n: int) -> na.Network:
    model, synapses = model if isinstance(model, tuple) else (model, None)
    net = na.Network(dt=DT)
    net.add_input("inp", N_INPUT, na.SpikeArray())
    v0 = np.random.default_rng(1).uniform(*v_range, n)
    init = {"u": IZHIKEVICH.b * v0} if model is IZHIKEVICH_WRITTEN else None  # the built-in starts at u = b v
    net.add_population("p", n, model, v_init=v0, init=init)
    if isinstance(model, na.NeuronModel):
        synapse = na.Delta("I_syn") if "I_syn" in model.state_variables else na.Delta("v")
    else:
        synapse = na.ExponentialCurrent(5e-3, "I_syn") if not isinstance(model, na.Izhikevich) else na.Delta("v")
    net.connect("inp", "p", na.FixedProbability(0.1, seed=2), weight=weight, **(synapses or {"synapse": synapse}))
    net.monitor("p")
    return net


def same_spikes(nets, raster: np.ndarray) -> bool:
    """Whether the built-in and the written model fire the same spikes (torch, float64)."""
    runs = [na.Simulator(net, "torch", dtype="float64").run(len(raster) * DT, {"inp": raster}) for net in nets]
    return all(np.array_equal(getattr(runs[0].spikes["p"], a), getattr(runs[1].spikes["p"], a))
               for a in ("steps", "indices")) and runs[0].spike_count("p") > 0


def time_brian2(net, target: str, raster: np.ndarray) -> float:
    sim = na.Simulator(net, "brian2", target=target)
    sim.run(len(raster) * DT, {"inp": raster})  # generates (and compiles) the code
    return sim.run(len(raster) * DT, {"inp": raster}).wall_time


def time_torch(net, raster: np.ndarray, batch: int) -> float:
    module = TorchNetwork(net, dtype="float32", device="cpu")
    x = torch.as_tensor(np.repeat(raster[:, None, :], batch, axis=1), dtype=torch.float32)
    with torch.no_grad():
        module({"inp": x[:20]})
        start = time.perf_counter()
        module({"inp": x})
        return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="500 steps, one repeat")
    args = parser.parse_args(argv)
    steps, repeats = (500, 1) if args.quick else (args.steps, args.repeats)
    torch.set_num_threads(1)
    raster = na.PoissonRate(20.0).encode(np.ones(N_INPUT), steps, DT, np.random.default_rng(0))
    cells = {"brian2 numpy": lambda net: time_brian2(net, "numpy", raster),
             "brian2 cython": lambda net: time_brian2(net, "cython", raster),
             "torch f32 batch 1": lambda net: time_torch(net, raster, 1),
             "torch f32 batch 64": lambda net: time_torch(net, raster, 64)}
    print(f"{args.neurons} neurons, {steps} steps of {DT * 1e3:g} ms, median of {repeats}\n")
    print("| model | run | built-in (s) | written (s) | written / built-in |")
    print("|---|---|---|---|---|")
    for name, (builtin, written, weight, v_range) in PAIRS.items():
        nets = [network(model, weight, v_range, args.neurons) for model in (builtin, written)]
        if not same_spikes(nets, raster[:300]):
            raise SystemExit(f"{name}: the written model does not fire as the built-in one; timing it means nothing")
        for cell, timer in cells.items():
            times = [[], []]
            for _ in range(repeats):
                for k, net in enumerate(nets):
                    times[k].append(timer(net))
            a, b = (statistics.median(t) for t in times)
            print(f"| {name} | {cell} | {a:.3f} | {b:.3f} | {b / a:.2f} |", flush=True)


if __name__ == "__main__":
    main()
