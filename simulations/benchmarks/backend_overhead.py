"""How much does neuroai cost on top of the simulators it drives?

Three measurements, each printed as a Markdown table:

1. **Brian2 backend vs hand-written Brian2.** The same recurrent LIF network
   (``N`` neurons, ``N/5`` Poisson inputs, delta synapses, refractoriness) is
   run through ``neuroai.Simulator(net, "brian2")`` and written directly in
   Brian2 (a ``NeuronGroup`` with ``method="exact"``, ``Synapses`` with
   ``on_pre="v += w"``, a ``SpikeGeneratorGroup`` fed the very same input
   spikes, the same code-generation target). Code generation and compilation
   are excluded: a warm-up run compiles first (cython, cached in
   ``~/.cython``; numpy when cython does not work here). Timed is the ``run``
   call only: ``result.wall_time`` for neuroai, ``net.run`` for Brian2. Each
   side is rebuilt and run a few times, alternating, and the median is kept.
   Both must give the same number of spikes. Target: neuroai/direct <= 1.10.

2. **Torch backend vs a plain snnTorch loop.** The neuroai ``TorchNetwork``
   (``sim.runner.module``) is called directly on a ``[T, batch, n]`` input
   tensor and compared with the usual snnTorch loop over the same weights
   (``nn.Linear`` + ``snntorch.Leaky``). float32, CPU, ``torch.no_grad()``
   for both; torch's default thread count (``--threads`` to change it) and,
   as a control, one thread. Reported: time steps per second and the
   ratio neuroai/snnTorch (target >= 1.0). snnTorch's ``Leaky`` has no
   refractory period, so this network has ``t_ref = 0``; both loops do the
   same work, though their event orders differ (design.md, section 3), so
   their spikes are not identical.

3. **Synaptic events per second** on each backend (Brian2 with the chosen
   target, torch float32, batch 1) for networks of 1,000 and 10,000 neurons.
   Delivered events = sum over presynaptic spikes (inputs and neurons) of
   that neuron's out-degree, divided by the run's wall time (``wall_time``
   of the result, which includes each backend's fixed per-run cost: Brian2's
   code-object setup, torch's dense weight matrices). The in-degrees are
   kept fixed as ``N`` grows, so the dynamics stay alike.

Usage: ``python simulations/benchmarks/backend_overhead.py [--quick]``
(``--quick``: smaller networks and shorter runs, well under a minute).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass

import brian2 as b2
import numpy as np
import snntorch as snn
import torch
from torch import nn

import neuroai as na

DT = 1e-4           # s
INPUT_RATE = 20.0   # Hz, Poisson inputs
IN_DEGREE = 20      # input synapses per neuron (expected)
REC_DEGREE = 20     # recurrent synapses per neuron (expected)
W_IN, W_REC = 0.1, 0.02


@dataclass(frozen=True)
class Settings:
    """Sizes, durations and repeats of one invocation."""

    n_compare: int        # neurons of the network of sections 1 and 2
    brian2_duration: float
    torch_steps: int
    batches: tuple[int, ...]
    scale_sizes: tuple[int, ...]
    scale_durations: tuple[float, ...]
    repeats: int


FULL = Settings(n_compare=1000, brian2_duration=1.0, torch_steps=2000, batches=(1, 32),
                scale_sizes=(1000, 10_000), scale_durations=(0.5, 0.2), repeats=5)
QUICK = Settings(n_compare=1000, brian2_duration=0.3, torch_steps=300, batches=(1, 32),
                 scale_sizes=(1000, 3000), scale_durations=(0.05, 0.02), repeats=3)


# --- the network ------------------------------------------------------------

def build_network(n: int, t_ref: float = 2e-3) -> na.Network:
    """``n`` LIF neurons driven by ``n // 5`` spike sources (given as a raster)
    and coupled recurrently; expected in-degrees fixed at IN_DEGREE and REC_DEGREE."""
    n_in = n // 5
    net = na.Network(dt=DT)
    net.add_input("inp", n_in, na.SpikeArray())
    net.add_population("exc", n, na.LIF(tau_m=20e-3, t_ref=t_ref), v_init=na.Uniform(0, 1, seed=1))
    net.connect("inp", "exc", na.FixedProbability(IN_DEGREE / n_in, seed=3), weight=W_IN, name="inp_exc")
    net.connect("exc", "exc", na.FixedProbability(REC_DEGREE / n, allow_self=False, seed=5),
                weight=W_REC, sign="excitatory", name="exc_exc")
    net.monitor("inp")
    net.monitor("exc")
    return net


def poisson_raster(n: int, steps: int, batch: int | None = None, seed: int = 0) -> np.ndarray:
    """Boolean Poisson raster, (steps, n) or (steps, batch, n)."""
    shape = (n,) if batch is None else (batch, n)
    return na.PoissonRate(INPUT_RATE).encode(np.ones(shape), steps, DT, np.random.default_rng(seed))


def synaptic_events(net: na.Network, result: na.SimulationResult) -> int:
    """Sum over presynaptic spikes of the spiking source's out-degree."""
    total = 0
    for proj in net.projections.values():
        out_degree = np.bincount(proj.pre_idx, minlength=net.size(proj.pre))
        total += int(out_degree[result.spike_indices(proj.pre)].sum())
    return total


def n_synapses(net: na.Network) -> int:
    return sum(p.n_synapses for p in net.projections.values())


# --- Brian2 -------------------------------------------------------------------

def choose_brian2_target() -> str:
    """Return "cython" if Brian2 can compile here (once, cached in ~/.cython), else "numpy"."""
    try:
        b2.prefs.codegen.target = "cython"
        group = b2.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0",
                               method="exact")
        b2.Network(group).run(1 * b2.ms)
        return "cython"
    except Exception as err:  # no compiler, no Cython, ...: fall back
        print(f"(cython unavailable: {type(err).__name__}: {err}; using numpy)")
        return "numpy"


def direct_brian2(net: na.Network, raster: np.ndarray):
    """The network written by hand in Brian2; returns (brian2.Network, SpikeMonitor)."""
    dt = net.dt * b2.second
    pop = net.populations["exc"]
    model = pop.model
    group = b2.NeuronGroup(pop.n, "dv/dt = -v/tau_m : 1 (unless refractory)", threshold="v > v_th",
                           reset="v = v_reset", refractory=model.t_ref * b2.second, method="exact",
                           namespace=dict(tau_m=model.tau_m * b2.second, v_th=model.v_th,
                                          v_reset=model.v_reset), dt=dt)
    group.v = pop.v_init
    steps, idx = np.nonzero(raster)
    source = b2.SpikeGeneratorGroup(net.size("inp"), idx, steps * dt, dt=dt)
    synapses = []
    for proj in net.projections.values():  # names "synapses", "synapses_1": run in this order
        pre = source if proj.pre == "inp" else group
        syn = b2.Synapses(pre, group, "w : 1", on_pre="v += w", dt=dt)
        syn.connect(i=proj.pre_idx, j=proj.post_idx)
        syn.w = proj.signed_weights
        synapses.append(syn)
    monitor = b2.SpikeMonitor(group)
    return b2.Network(group, source, *synapses, monitor), monitor


def time_neuroai_brian2(net, raster, target) -> tuple[float, int]:
    sim = na.Simulator(net, "brian2", target=target)
    result = sim.run(len(raster) * DT, inputs={"inp": raster})
    return result.wall_time, result.spike_count("exc")


def time_direct_brian2(net, raster, target) -> tuple[float, int]:
    network, monitor = direct_brian2(net, raster)
    b2.prefs.codegen.target = target
    t0 = time.perf_counter()
    network.run(len(raster) * DT * b2.second)
    return time.perf_counter() - t0, int(monitor.num_spikes)


def compare_brian2(settings: Settings, target: str) -> list[str]:
    net = build_network(settings.n_compare)
    steps = int(round(settings.brian2_duration / DT))
    raster = poisson_raster(net.size("inp"), steps, seed=11)
    time_neuroai_brian2(net, raster[:100], target)   # warm-up: code generation and compilation
    time_direct_brian2(net, raster[:100], target)
    ours, theirs = [], []
    for _ in range(settings.repeats):                 # alternate, so drifts hit both alike
        ours.append(time_neuroai_brian2(net, raster, target))
        theirs.append(time_direct_brian2(net, raster, target))
    t_ours = statistics.median(t for t, _ in ours)
    t_theirs = statistics.median(t for t, _ in theirs)
    counts_ours = {c for _, c in ours}
    counts_theirs = {c for _, c in theirs}
    ratio = t_ours / t_theirs
    same = counts_ours == counts_theirs and len(counts_ours) == 1
    return [
        "| neurons | target | steps | neuroai run (s) | direct Brian2 run (s) | neuroai/direct | <= 1.10 "
        "| spikes neuroai | spikes direct | identical |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|---|",
        f"| {settings.n_compare:,} | {target} | {steps:,} | {t_ours:.3f} | {t_theirs:.3f} | {ratio:.3f} "
        f"| {_yes(ratio <= 1.10)} | {_set(counts_ours)} | {_set(counts_theirs)} | {_yes(same)} |",
    ]


# --- torch ----------------------------------------------------------------------

class SnnTorchLoop(nn.Module):
    """The network as a plain snnTorch loop: nn.Linear for the weights,
    snntorch.Leaky (reset to zero) for the neurons."""

    def __init__(self, module):
        super().__init__()
        net = module.network
        pop = net.populations["exc"]
        self.fc_in = nn.Linear(net.size("inp"), pop.n, bias=False)
        self.fc_rec = nn.Linear(pop.n, pop.n, bias=False)
        with torch.no_grad():
            self.fc_in.weight.copy_(module.effective_weight("inp_exc").T)
            self.fc_rec.weight.copy_(module.effective_weight("exc_exc").T)
        beta = math.exp(-net.dt / pop.model.tau_m)
        self.lif = snn.Leaky(beta=beta, threshold=pop.model.v_th, reset_mechanism="zero")
        self.register_buffer("v_init", torch.as_tensor(pop.v_init, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = self.v_init.expand(x.shape[1], -1).clone()
        spk = torch.zeros_like(mem)
        out = []
        for t in range(x.shape[0]):
            cur = self.fc_in(x[t]) + self.fc_rec(spk)
            spk, mem = self.lif(cur, mem)
            out.append(spk)
        return torch.stack(out)


def _rate(spikes: torch.Tensor, duration: float) -> float:
    """Mean firing rate (Hz) of a (T, batch, n) spike tensor over ``duration`` seconds."""
    return spikes.sum().item() / (spikes.shape[1] * spikes.shape[2] * duration)


def median_steps_per_s(fn, x: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    """Median time steps per second of ``fn(x)``, after one warm-up call; and its spikes."""
    with torch.no_grad():
        spikes = fn(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
    return x.shape[0] / statistics.median(times), spikes


def compare_torch(settings: Settings) -> list[str]:
    """Steps/s of both loops for each batch size, at torch's current thread
    count and, if that is more than one, also at one thread (small per-step
    ops are very sensitive to oversubscribed cores)."""
    net = build_network(settings.n_compare, t_ref=0.0)
    module = na.Simulator(net, "torch", dtype="float32", device="cpu").runner.module
    loop = SnnTorchLoop(module)
    n, duration = settings.n_compare, settings.torch_steps * DT
    lines = [
        "| neurons | threads | batch | steps | neuroai (steps/s) | snnTorch (steps/s) | neuroai/snnTorch "
        "| >= 1.0 | rate neuroai (Hz) | rate snnTorch (Hz) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for batch in settings.batches:
            x = torch.as_tensor(poisson_raster(net.size("inp"), settings.torch_steps, batch, seed=12),
                                dtype=torch.float32)
            ours, s_ours = median_steps_per_s(
                lambda x: module(inputs={"inp": x}, record=("exc",)).spikes["exc"], x, settings.repeats)
            theirs, s_theirs = median_steps_per_s(loop, x, settings.repeats)
            ratio = ours / theirs
            lines.append(f"| {n:,} | {threads} | {batch} | {settings.torch_steps:,} | {ours:,.0f} | {theirs:,.0f} "
                         f"| {ratio:.2f} | {_yes(ratio >= 1.0)} | {_rate(s_ours, duration):.1f} "
                         f"| {_rate(s_theirs, duration):.1f} |")
    torch.set_num_threads(default_threads)
    return lines


# --- synaptic events per second ---------------------------------------------------

def events_per_second(settings: Settings, target: str) -> list[str]:
    lines = [
        "| backend | neurons | synapses | model time (s) | wall (s) | spikes | rate (Hz) | synaptic events "
        "| events/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, duration in zip(settings.scale_sizes, settings.scale_durations):
        net = build_network(n)
        steps = int(round(duration / DT))
        raster = poisson_raster(net.size("inp"), steps, seed=13)
        backends = {f"brian2 ({target})": dict(backend="brian2", target=target),
                    "torch (float32)": dict(backend="torch", dtype="float32", device="cpu")}
        for label, options in backends.items():
            _run(net, raster[:50], options)                # warm-up
            walls, result = [], None
            for _ in range(settings.repeats):
                result = _run(net, raster, options)
                walls.append(result.wall_time)
            wall = statistics.median(walls)
            events = synaptic_events(net, result)
            spikes = result.spike_count("exc")
            lines.append(f"| {label} | {n:,} | {n_synapses(net):,} | {duration:g} | {wall:.3f} | {spikes:,} "
                         f"| {spikes / (n * duration):.1f} | {events:,} | {events / wall:,.3g} |")
    return lines


def _run(net, raster, options) -> na.SimulationResult:
    options = dict(options)
    sim = na.Simulator(net, options.pop("backend"), **options)
    return sim.run(len(raster) * DT, inputs={"inp": raster})


# --- output ---------------------------------------------------------------------------

def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def _set(values: set[int]) -> str:
    return ", ".join(f"{v:,}" for v in sorted(values))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller networks, shorter runs (< 1 min)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's default)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.threads:
        torch.set_num_threads(args.threads)

    target = choose_brian2_target()
    print(f"# neuroai backend overhead{' (quick)' if args.quick else ''}\n")
    print(f"neuroai {na.__version__}, brian2 {b2.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), snntorch {snn.__version__}, Python {platform.python_version()}; "
          f"dt = {DT * 1e3:g} ms; Brian2 target: {target}; medians of {settings.repeats} runs; "
          f"load average at start {_load()}.\n")

    print("## 1. Brian2 backend vs hand-written Brian2 (wall time of the run call)\n")
    print("\n".join(compare_brian2(settings, target)) + "\n")
    print("## 2. Torch backend vs a plain snnTorch loop (float32, CPU, no_grad, t_ref = 0)\n")
    print("\n".join(compare_torch(settings)) + "\n")
    print(f"## 3. Synaptic events per second (torch: float32, batch 1, {torch.get_num_threads()} threads)\n")
    print("\n".join(events_per_second(settings, target)))
    print(f"\nload average at end {_load()} (other processes on this machine perturb the timings).")


if __name__ == "__main__":
    main()
