"""Which Brian2 code-generation targets are bitwise with which?

The parity contract (design.md, section 3) pairs the torch backend in
float64 with Brian2's ``numpy`` target. This script measures how the other
targets, ``cython`` and ``cpp_standalone``, compare with both, on three
networks that exercise the three kinds of arithmetic:

- ``exact``: LIF populations with delta and exponential-current synapses,
  delays and refractoriness (exact integration: products and sums only; the
  ``exp`` of constants is taken once, by numpy, in both backends);
- ``exp-euler``: LIF populations fed by conductances (exponential Euler: an
  ``exp`` of the state every step);
- ``adex``: AdEx neurons (an ``exp`` of ``v`` every step in forward Euler).

Each network runs on every target with the same seed and input spikes; each
pair is reported as the spikes matched (same neuron, same step) out of the
spikes of each side, and the number of recorded state samples that differ
(with the largest difference). Compiling for ``cython`` and
``cpp_standalone`` takes minutes the first time (cached afterwards for
cython). Brian2 compiles C++ with ``-ffast-math`` and the C library's
``exp``, numpy uses its own SIMD ``exp``, so bitwise agreement across those
is not expected; the table says how close they are.

Usage: ``python simulations/benchmarks/target_parity.py [--duration 0.2]``
"""
from __future__ import annotations

import argparse
import itertools

import numpy as np

import neuroai as na

RUNS = {"torch float64": ("torch", {"dtype": "float64"}), "numpy": ("brian2", {"target": "numpy"}),
        "cython": ("brian2", {"target": "cython"}), "cpp_standalone": ("brian2", {"target": "cpp_standalone"})}


def exact_network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 100, na.PoissonRate(30.0))
    net.add_population("a", 200, na.LIF(tau_m=20e-3, t_ref=2e-3), v_init=na.Uniform(0, 1, seed=1))
    net.add_population("b", 50, na.LIF(tau_m=10e-3, reset="subtract"), v_init=na.Uniform(0, 1, seed=2))
    net.connect("inp", "a", na.FixedProbability(0.2, seed=3), weight=na.Uniform(0.05, 0.3, seed=4))
    net.connect("a", "b", na.FixedProbability(0.1, seed=5), weight=0.3, synapse=na.ExponentialCurrent(5e-3, "I_exc"),
                delay=1e-3)
    net.connect("b", "a", na.FixedProbability(0.2, seed=6), weight=0.2, sign="inhibitory",
                synapse=na.ExponentialCurrent(3e-3, "I_inh"))
    return net


def exp_euler_network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 60, na.PoissonRate(40.0))
    net.add_population("e", 160, na.LIF.physical(t_ref=2e-3), v_init=na.Uniform(-70e-3, -55e-3, seed=1))
    net.add_population("i", 40, na.LIF.physical(t_ref=1e-3), v_init=na.Uniform(-70e-3, -55e-3, seed=2))
    exc = na.ExponentialConductance(5e-3, 0.0, "g_exc")
    net.connect("inp", "e", na.FixedProbability(0.2, seed=3), weight=3e-9, synapse=exc)
    net.connect("e", "i", na.FixedProbability(0.2, seed=4), weight=3e-9, synapse=exc, delay=1e-3)
    net.connect("i", "e", na.FixedProbability(0.3, seed=5), weight=5e-9,
                synapse=na.ExponentialConductance(10e-3, -80e-3, "g_inh"))
    return net


def adex_network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 60, na.PoissonRate(50.0))
    net.add_population("adex", 100, na.AdEx(i_bias=0.3e-9, b=40e-12), v_init=na.Uniform(-70e-3, -55e-3, seed=1))
    net.connect("inp", "adex", na.FixedProbability(0.3, seed=2), weight=0.2e-9,
                synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.connect("adex", "adex", na.FixedProbability(0.1, seed=3), weight=2e-3, delay=0.5e-3)
    return net


NETWORKS = {"exact": exact_network, "exp-euler": exp_euler_network, "adex": adex_network}


def compare(a: na.SimulationResult, b: na.SimulationResult, net: na.Network) -> str:
    matched = sum(na.spike_agreement(a, b, p)[0] for p in net.populations)
    n_a = sum(a.spike_count(p) for p in net.populations)
    n_b = sum(b.spike_count(p) for p in net.populations)
    differ, largest = 0, 0.0
    for key in a.traces:
        x, y = a.trace(key).values, b.trace(key).values
        differ += int(np.count_nonzero(x != y))
        largest = max(largest, float(np.abs(x - y).max(initial=0.0)))
    samples = sum(a.trace(key).values.size for key in a.traces)
    return f"{matched}/{n_a}/{n_b} | {differ}/{samples} | {largest:.1e}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=0.2, help="simulated seconds per network")
    args = parser.parse_args(argv)
    print("| network | pair | spikes matched / left / right | differing state samples | largest difference |")
    print("|---|---|---|---|---|")
    for name, build in NETWORKS.items():
        net = build()
        for pop, model in ((p, q.model) for p, q in net.populations.items()):
            net.monitor(pop)
            for var in model.state_variables:
                net.monitor(pop, var, every=10)
        results = {run: na.Simulator(net, backend, seed=1, **options).run(args.duration)
                   for run, (backend, options) in RUNS.items()}
        for left, right in itertools.combinations(RUNS, 2):
            print(f"| {name} | {left} vs {right} | {compare(results[left], results[right], net)} |", flush=True)


if __name__ == "__main__":
    main()
