"""SNN vs its ANN twin on digits: are surrogate-gradient minima flatter or sharper, and does SAM flatten either?

Two models of the same topology, ``64 -> 32 -> 10`` (2,368 weights, no
biases), learn scikit-learn's digits (a seeded, stratified split: 70%
training, 30% test; each seed its own split, initialization and batch
order, shared by the two models):

- **SNN**: :func:`neuroai.models.snn.feedforward_network` (LIF neurons,
  tau_m 20 ms, subtractive reset, all-to-all delta synapses without biases)
  in a :class:`neuroai.models.SpikingClassifier` over 20 steps of 1 ms; the
  logits are the output spike counts (whole numbers from 0 to 20). Its input
  is *regular* rate coding (:class:`neuroai.coding.RegularRate`, 500 Hz for
  a white pixel): deterministic, so that the loss is a function of the
  weights (Poisson input draws new spikes at every forward pass, and each
  Hessian-vector product would see other data).
- **ANN twin**: :class:`neuroai.models.MLP` with the same layer sizes, ReLU
  hidden units (the rate model of an integrate-and-fire neuron, as in
  :mod:`neuroai.conversion`) and no biases, as the SNN has none; real-valued
  logits. Each model starts from its library's default initialization (SNN
  ``Normal(0, 1/sqrt(fan_in))``, ANN Kaiming normal), the scale each trains
  well from, so the two are comparable but not identical.

Each model is trained with SGD with momentum 0.9, Adam, and SAM (Foret et
al. 2021, ``rho`` 0.05) around momentum SGD with momentum's learning rate,
so that SAM and momentum differ only in SAM's perturbation; mini-batches of
32. SAM's radius is in the weights' units, as Foret et al.'s: at the minima
``|theta|`` is about 9 for the SNN and 17 for the ANN (Kaiming's larger
initial scale), so the same ``rho`` is a perturbation about twice as large
relative to the SNN's weights.

Learning rates (our choice, documented): tuned modestly per model kind on
seed 0 (momentum 0.01, 0.02, 0.05 on the SNN and 0.02, 0.05, 0.1 on the ANN;
Adam 0.003 and 0.01 on both), by how fast and how stably the training loss
fell. The SNN's loss jumps between plateaus from momentum 0.05 on (SAM
around it needed 29 epochs to reach a training loss of 0.05, against 11 at
0.02); every value trains the ANN, larger ones faster. The two kinds then
share the SNN's values, momentum (and SAM) 0.02 and Adam 0.003: the step
size bounds the curvature gradient descent can settle in (``lambda_max <
2 (1 + beta) / lr`` for full-batch momentum ``beta``), so a larger step for
the ANN alone would bias the comparison of the kinds towards a flatter ANN.
The ANN needs more epochs at these steps (about 50 instead of 10 with
momentum), which costs little.

Stopping rule (our choice, documented): every run trains until its
cross-entropy on the whole training set falls below the same target
(``target_loss``, checked after every epoch; at most ``max_epochs``), as in
the ``batch_size_sharpness`` study. The Hessian of the cross-entropy shrinks
as the loss goes to zero, so curvature is only comparable between minima
fitted equally well; after a fixed number of epochs Adam's minima would sit
at a far lower loss than SAM's and look flatter for that reason alone.

What is measured, on a fixed, seeded subset of the training set (256 images
in batches of 64; every Hessian-vector product of the SNN runs its 20-step
simulation forwards and backwards, 0.1-0.15 s per 64 images on one CPU
core, and the whole training set would cost five times as much):

- *curvature* (from Hessian-vector products, :mod:`neuroai.landscape`): the
  top eigenvalue (Lanczos), the trace (Hutchinson) and, for the first seed,
  the spectral density (stochastic Lanczos quadrature, the figure). For the
  SNN these are the curvature of the **surrogate-smoothed** loss, the local
  model whose gradient is the surrogate gradient that training follows (see
  the guide *Optimizers and loss landscapes*, "Curvature of spiking
  networks"); the SNN's forward loss is piecewise constant in the weights
  and has no curvature of its own. For the ANN they are the curvature of
  its loss.
- *forward-loss measures*, which evaluate the loss and accuracy the model
  computes (for the SNN: with real spikes): Keskar et al.'s epsilon-sharpness
  (the ascent follows the surrogate gradient, the loss values are forward
  losses; percent of ``1 + L``, a lower bound), 1-D and 2-D slices of the
  training loss, and the test accuracy under Gaussian weight noise.

Slices and weight noise use *layer-normalized* random directions
(:func:`neuroai.landscape.random_direction` with ``normalization="layer"``:
each weight matrix's direction has that matrix's norm), not Li et al.'s
filter normalization: the SNN stores its weights (pre, post) and the MLP
(post, pre), so a "filter" would be a neuron's outgoing weights in one and
its incoming weights in the other. Weight noise of relative size ``sigma``
adds ``sigma`` times such a direction (a Gaussian draw rescaled per layer to
the layer's norm); the same seeded draws for every model of a seed.

Comparing the two kinds: both losses are cross-entropies in nats on the same
images, and the stopping rule fits both equally well, but the SNN's logits
are spike counts, coarse and bounded, with another sensitivity to the
weights than the ANN's real logits. Its surrogate Hessian also depends on
the surrogate's width. Eigenvalues (nats per squared weight) are therefore
compared within a kind; across kinds the study reports scale-free figures:
``top / trace`` (the share of the curvature in the sharpest direction),
``top * |theta|^2 / 2`` (:attr:`neuroai.landscape.Flatness.scaled_top`: the
loss rise the quadratic model predicts for a step as long as the weights
along the sharpest direction, in nats; unlike the eigenvalue it does not
change when a linear model's weights are scaled by ``c`` and its inputs by
``1/c``), and the relative perturbations of the forward measures (Keskar's
box, the slices' ``alpha``, the noise's ``sigma``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroai.cli import script_main
from neuroai.coding import RegularRate
from neuroai.data import digits_train_test
from neuroai.experiments import RunRecord, markdown_table
from neuroai.landscape import (Flatness, HessianOperator, hessian_trace, keskar_sharpness, loss_slice_1d,
                               loss_slice_2d, preserved, random_direction, spectral_density, top_eigenvalues)
from neuroai.models import MLP, SpikingClassifier, feedforward_network
from neuroai.optim import make_optimizer
from neuroai.training import Callback, Trainer
from neuroai.training.metrics import cross_entropy_and_accuracy

MODELS = ("snn", "ann")
LABELS = {"snn": "SNN", "ann": "ANN"}
OPTIMIZERS = ("momentum", "adam", "sam")
#: The per-seed measures aggregated in the table (mean and std over seeds), in its column order.
MEASURES = ("epochs", "train loss", "test accuracy", "gap accuracy", "gap loss", "top eigenvalue", "trace",
            "top / trace", "top |theta|^2 / 2", "keskar sharpness", "slice rise")
#: The measures by which SAM is asked to have made a minimum flatter (lower is flatter).
FLATNESS = ("top eigenvalue", "trace", "keskar sharpness", "slice rise")
#: The scale-free measures by which the SNN's and the ANN's minima are compared (lower is flatter).
SCALE_FREE = ("top |theta|^2 / 2", "keskar sharpness", "slice rise")


@dataclass(frozen=True)
class Params:
    test: float = 0.3                     # fraction of the 1,797 digits held out
    sizes: tuple[int, ...] = (64, 32, 10)
    steps: int = 20                       # SNN: simulation steps of 1 ms per image
    max_rate: float = 500.0               # SNN: regular input rate of a white pixel (Hz)
    batch: int = 32
    momentum: float = 0.9
    momentum_lr: float = 0.02             # both kinds; also SAM's, around momentum SGD
    adam_lr: float = 0.003                # both kinds
    rho: float = 0.05                     # SAM's radius, in the weights' units (see the module docstring)
    target_loss: float = 0.02             # stop when the training-set cross-entropy is below this
    max_epochs: int = 100
    quick_target_loss: float = 0.15
    quick_max_epochs: int = 10
    seeds: int = 3                        # seeds seed, seed + 1, ...
    quick_seeds: int = 1
    optimizers: tuple[str, ...] = OPTIMIZERS
    quick_optimizers: tuple[str, ...] = ("momentum", "sam")
    curvature_images: int = 256           # the seeded training subset of every landscape measure
    quick_curvature_images: int = 128
    curvature_batch: int = 64
    lanczos_tol: float = 1e-3             # top eigenvalue: Ritz residual below 1e-3 lambda (lambda to ~1e-6)
    trace_probes: int = 50                # Hutchinson
    quick_trace_probes: int = 20
    density_runs: int = 4                 # stochastic Lanczos quadrature (first seed only)
    density_iter: int = 30
    quick_density_runs: int = 2
    quick_density_iter: int = 12
    density_points: int = 400             # the density's grid
    epsilon: float = 1e-3                 # Keskar et al.'s box size
    sharpness_steps: int = 20
    quick_sharpness_steps: int = 10
    slice_points: int = 41                # alphas in [-1, 1]
    quick_slice_points: int = 21
    slice_probe: float = 0.5              # "slice rise": mean loss at alpha = +-slice_probe minus the loss at 0
    plane_points: int = 13                # 2-D slices (first seed): plane_points^2 points in [-1, 1]^2
    quick_plane_points: int = 9
    sigmas: tuple[float, ...] = (0.05, 0.1, 0.2)   # relative weight noise
    noise_draws: int = 5
    quick_noise_draws: int = 3


@dataclass(frozen=True)
class Setting:
    """What a run of the study uses: the Params with the quick values in place of the full ones."""
    seeds: tuple[int, ...]
    optimizers: tuple[str, ...]
    target_loss: float
    max_epochs: int
    curvature_images: int
    trace_probes: int
    density_runs: int
    density_iter: int
    sharpness_steps: int
    alphas: torch.Tensor                  # [slice_points], the 1-D slices' grid
    plane: torch.Tensor                   # [plane_points], each axis of the 2-D slices
    noise_draws: int


def setting(p: Params, quick: bool, seed: int) -> Setting:
    """The values a quick or full run uses (the grids with exact 0 and +-slice_probe)."""
    q = (lambda name: getattr(p, f"quick_{name}")) if quick else (lambda name: getattr(p, name))
    alphas = torch.tensor(np.round(np.linspace(-1, 1, q("slice_points")), 9))
    if not bool((alphas == 0).any() and (alphas == p.slice_probe).any()):
        raise ValueError(f"spiking_vs_ann_landscapes: the slice grid, {len(alphas)} points in [-1, 1], must hold 0 "
                         f"and +-slice_probe = {p.slice_probe}; choose slice_points to make it so")
    return Setting(seeds=tuple(range(seed, seed + q("seeds"))), optimizers=q("optimizers"),
                   target_loss=q("target_loss"), max_epochs=q("max_epochs"), curvature_images=q("curvature_images"),
                   trace_probes=q("trace_probes"), density_runs=q("density_runs"), density_iter=q("density_iter"),
                   sharpness_steps=q("sharpness_steps"),
                   alphas=alphas,
                   plane=torch.tensor(np.round(np.linspace(-1, 1, q("plane_points")), 9)),
                   noise_draws=q("noise_draws"))


def make_model(kind: str, p: Params, seed: int) -> nn.Module:
    """The SNN or its ANN twin (see the module docstring), initialized from ``seed``."""
    if kind == "snn":
        net = feedforward_network(list(p.sizes), encoder=RegularRate(max_rate=p.max_rate), seed=seed)
        return SpikingClassifier(net, steps=p.steps, seed=seed)
    return MLP(list(p.sizes), activation="relu", bias=False, seed=seed)


def learning_rate(name: str, p: Params) -> float:
    """The learning rate of optimizer ``name`` (SAM: its base's, momentum's)."""
    return p.adam_lr if name == "adam" else p.momentum_lr


def optimizer(name: str, model: nn.Module, p: Params) -> torch.optim.Optimizer:
    """Optimizer ``name`` of :data:`OPTIMIZERS` over ``model``'s parameters, with the study's hyper-parameters."""
    lr = learning_rate(name, p)
    if name == "momentum":
        return make_optimizer("momentum", model.parameters(), lr=lr, momentum=p.momentum)
    if name == "sam":
        return make_optimizer("sam", model.parameters(), base_optimizer="momentum", lr=lr, momentum=p.momentum,
                              rho=p.rho)
    return make_optimizer(name, model.parameters(), lr=lr)


class StopAtTrainingLoss(Callback):
    """After every epoch, compute the cross-entropy on the whole training set
    (logged as ``train_set_loss``) and stop once it is below ``target``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, target: float):
        self.x, self.y, self.target = x, y, target

    def on_epoch_end(self, trainer, epoch, logs):
        with torch.no_grad():
            loss, _ = cross_entropy_and_accuracy(trainer.model, self.x, self.y)
        logs["train_set_loss"] = loss
        if loss < self.target:
            trainer.stop_training = True


def train(kind: str, name: str, p: Params, s: Setting, sets: dict, seed: int) -> tuple[nn.Module, list[dict]]:
    """Train one (model, optimizer) pair by the stopping rule; returns the model and its history."""
    model = make_model(kind, p, seed)
    loader = DataLoader(TensorDataset(*sets["train"]), batch_size=p.batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer(name, model, p),
                      callbacks=[StopAtTrainingLoss(*sets["train"], s.target_loss)], seed=seed, progress=False,
                      device="cpu")
    history = trainer.fit(loader, epochs=s.max_epochs)
    return model.eval(), history


def curvature_subset(p: Params, s: Setting, sets: dict, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``curvature_images`` training images drawn without replacement by NumPy's generator seeded with ``seed``
    (torch's, seeded alike, gives the first epoch's batch order), in batches of ``curvature_batch``."""
    x, y = sets["train"]
    idx = torch.from_numpy(np.random.default_rng(seed).choice(len(y), s.curvature_images, replace=False))
    return list(zip(x[idx].split(p.curvature_batch), y[idx].split(p.curvature_batch)))


def noise_accuracy(model: nn.Module, test: tuple[torch.Tensor, torch.Tensor], sigma: float, draws: int,
                   seed: int) -> float:
    """Mean test accuracy over ``draws`` weight perturbations ``theta + sigma d``, each ``d`` a
    layer-normalized Gaussian direction (``|d_l| = |theta_l|``) drawn from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    directions = [random_direction(model, normalization="layer", seed=gen) for _ in range(draws)]
    named = dict(model.named_parameters())
    accuracies = []
    with preserved(model), torch.no_grad():
        base = {n: q.detach().clone() for n, q in named.items()}
        for d in directions:
            for n, q in named.items():
                q.copy_(base[n] + sigma * d[n])
            accuracies.append(cross_entropy_and_accuracy(model, *test)[1])
    return float(np.mean(accuracies))


def measure(model: nn.Module, p: Params, s: Setting, sets: dict, subset: list, seed: int,
            first_seed: bool) -> tuple[dict, dict]:
    """The per-run row (accuracies, gaps, curvature, sharpness, slice rise, noise accuracies) and the
    landscape pictures: the 1-D slice (``"slice"``) and, for the first seed, the spectral density
    (``"density"``) and the 2-D slice (``"plane"``)."""
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        train_loss, train_acc = cross_entropy_and_accuracy(model, *sets["train"])
        test_loss, test_acc = cross_entropy_and_accuracy(model, *sets["test"])
    H = HessianOperator(model, loss_fn, subset)
    top = float(top_eigenvalues(H, k=1, tol=p.lanczos_tol, seed=seed).eigenvalues[0])
    hutchinson = hessian_trace(H, num_probes=s.trace_probes, probe_batch=None, seed=seed)
    trace = hutchinson.trace
    flat = Flatness(top, trace, H.num_params, float(torch.linalg.vector_norm(H.theta)))
    pictures = {}
    if first_seed:
        pictures["density"] = spectral_density(H, num_runs=s.density_runs, num_iter=s.density_iter,
                                               num_points=p.density_points, seed=seed)
    sharp = keskar_sharpness(model, loss_fn, subset, epsilon=p.epsilon, steps=s.sharpness_steps, seed=seed)
    line = pictures["slice"] = loss_slice_1d(
        model, loss_fn, subset, direction=random_direction(model, normalization="layer", seed=seed), alphas=s.alphas)
    if first_seed:
        gen = torch.Generator().manual_seed(seed)
        pictures["plane"] = loss_slice_2d(
            model, loss_fn, subset, alphas=s.plane, betas=s.plane,
            directions=tuple(random_direction(model, normalization="layer", seed=gen) for _ in range(2)))
    at_zero = float(line.losses[s.alphas == 0][0])
    row = {"train loss": train_loss, "test accuracy": test_acc, "gap accuracy": train_acc - test_acc,
           "gap loss": test_loss - train_loss, "top eigenvalue": top, "trace": trace,
           "trace stderr": hutchinson.stderr, "top / trace": top / trace,
           "top |theta|^2 / 2": flat.scaled_top, "keskar sharpness": sharp.sharpness,
           "slice rise": float(line.losses[s.alphas.abs() == p.slice_probe].mean()) - at_zero,
           "subset loss": at_zero, "params": flat.num_params, "|theta|": flat.param_norm,
           **{f"noise accuracy {sigma:g}": noise_accuracy(model, sets["test"], sigma, s.noise_draws, seed)
              for sigma in p.sigmas}}
    return row, pictures


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def cell(values: list[float]) -> str | float:
    """A table cell: ``mean ± std`` over seeds, or the value itself for one seed."""
    m, sd = mean_std(values)
    return m if len(values) == 1 else f"{m:.4g} ± {sd:.2g}"


def table(runs: dict, p: Params, s: Setting) -> list[dict]:
    """One row per (model, optimizer): mean ± std over seeds of :data:`MEASURES` and the noise accuracies."""
    rows = []
    for kind in MODELS:
        for name in s.optimizers:
            per_seed = runs[kind, name]
            row = {"model": LABELS[kind], "optimizer": name, "lr": learning_rate(name, p)}
            for key in (*MEASURES, *(f"noise accuracy {sigma:g}" for sigma in p.sigmas)):
                row[key] = cell([r[key] for r in per_seed])
            rows.append(row)
    return rows


def sam_verdict(runs: dict) -> dict:
    """For each model kind, per flatness measure: SAM's and momentum's means and on how many seeds SAM's
    value was the lower (SAM vs its base, at the same learning rate and seed)."""
    verdict = {}
    for kind in MODELS:
        sam, base = runs[kind, "sam"], runs[kind, "momentum"]
        verdict[kind] = {key: {"sam": mean_std([r[key] for r in sam])[0],
                               "momentum": mean_std([r[key] for r in base])[0],
                               "lower on seeds": sum(a[key] < b[key] for a, b in zip(sam, base)),
                               "seeds": len(sam)} for key in FLATNESS}
    return verdict


def verdict_text(verdict: dict) -> str:
    """The SAM verdict as Markdown bullets, one per model kind."""
    lines = []
    for kind, measures in verdict.items():
        parts = [f"{key} {v['sam']:.4g} vs {v['momentum']:.4g} (lower on {v['lower on seeds']}/{v['seeds']} seeds)"
                 for key, v in measures.items()]
        flatter = sum(2 * v["lower on seeds"] > v["seeds"] for v in measures.values())
        lines.append(f"- {LABELS[kind]}, SAM vs momentum (SAM's base, same learning rate): " + "; ".join(parts)
                     + f". On most seeds SAM's minima were flatter by {flatter} of these {len(measures)} measures.")
    return "\n".join(lines)


def kinds_text(runs: dict, p: Params, s: Setting) -> str:
    """SNN vs ANN per optimizer by the scale-free measures (means over seeds), as Markdown bullets."""
    lines = []
    noisy = f"noise accuracy {max(p.sigmas):g}"
    for name in s.optimizers:
        means = {(kind, key): mean_std([r[key] for r in runs[kind, name]])[0]
                 for kind in MODELS for key in (*SCALE_FREE, "top / trace", noisy)}
        parts = [f"{key} {means['snn', key]:.4g} vs {means['ann', key]:.4g}" for key in (*SCALE_FREE, "top / trace")]
        flatter = sum(means["snn", key] < means["ann", key] for key in SCALE_FREE)
        lines.append(f"- {name}, SNN vs ANN: " + "; ".join(parts) + f"; test accuracy under weight noise sigma "
                     f"{max(p.sigmas):g}: {means['snn', noisy]:.4g} vs {means['ann', noisy]:.4g}. The SNN's minima "
                     f"were flatter by {flatter} of the {len(SCALE_FREE)} scale-free sharpness measures.")
    return "\n".join(lines)


def figure(runs: dict, pictures: dict, p: Params, s: Setting) -> Figure:
    """Spectral densities and 1-D slices of the first seed per model kind, accuracy under weight noise and
    the scale-free sharpness (means over seeds)."""
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    colors = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}
    for col, kind in enumerate(MODELS):
        what = "surrogate-smoothed loss" if kind == "snn" else "loss"
        ax = axes[0, col]
        for name in s.optimizers:
            d = pictures[kind, name]["density"]
            ax.plot(d.grid.numpy(), d.density.clamp_min(1e-6).numpy(), color=colors[name],
                    label=f"{name} ($\\lambda_{{max}}$ {runs[kind, name][0]['top eigenvalue']:.3g})")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, None)
        ax.set_xlabel("Hessian eigenvalue (nats per squared weight)")
        ax.set_ylabel("density")
        ax.set_title(f"{LABELS[kind]}: Hessian spectrum of the {what} (seed {s.seeds[0]})", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
        ax = axes[1, col]
        for name in s.optimizers:
            line = pictures[kind, name]["slice"]
            ax.plot(line.alphas.numpy(), line.losses.numpy(), color=colors[name], marker=".", label=name)
        ax.set_yscale("log")
        ax.set_xlabel(r"$\alpha$ (layer-normalized random direction)")
        ax.set_ylabel("training-subset loss (forward pass)")
        ax.set_title(f"{LABELS[kind]}: 1-D slices (seed {s.seeds[0]})", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
    ax = axes[0, 2]
    sigmas = [0.0, *p.sigmas]
    for kind, style in zip(MODELS, ("-", "--")):
        for name in s.optimizers:
            acc = np.array([[r["test accuracy"], *(r[f"noise accuracy {sigma:g}"] for sigma in p.sigmas)]
                            for r in runs[kind, name]])
            ax.errorbar(sigmas, acc.mean(0), yerr=acc.std(0) if len(acc) > 1 else None, ls=style,
                        color=colors[name], marker="o", capsize=2, label=f"{LABELS[kind]} {name}")
    ax.set_xlabel(r"relative weight noise $\sigma$")
    ax.set_ylabel("test accuracy")
    ax.set_title("Robustness to Gaussian weight noise (mean over seeds)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1, 2]
    cells = [(kind, name) for kind in MODELS for name in s.optimizers]
    x = np.arange(len(cells))
    for j, (key, label) in enumerate((("keskar sharpness", "Keskar sharpness (forward loss, %)"),
                                      ("top |theta|^2 / 2", r"$\lambda_{max}|\theta|^2/2$ (nats)"))):
        values = np.array([[r[key] for r in runs[c]] for c in cells])
        ax.bar(x + 0.4 * j - 0.2, values.mean(1), 0.4, yerr=values.std(1) if values.shape[1] > 1 else None,
               color=f"C{j + 4}", capsize=2, label=label)
    ax.set_xticks(x, [f"{LABELS[k]}\n{n}" for k, n in cells])
    ax.set_yscale("log")
    ax.set_title("Scale-free sharpness (mean over seeds)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return fig


def plane_figure(pictures: dict, s: Setting) -> Figure:
    """The 2-D slices of the first seed on one colour scale: one row per model kind, one column per optimizer."""
    fig = Figure(figsize=(4 * len(s.optimizers) + 1.5, 7.5), layout="constrained")
    axes = fig.subplots(len(MODELS), len(s.optimizers), squeeze=False)
    logs = {key: np.log10(drawn["plane"].losses.numpy()) for key, drawn in pictures.items()}
    low, high = min(v.min() for v in logs.values()), max(v.max() for v in logs.values())
    for i, kind in enumerate(MODELS):
        for j, name in enumerate(s.optimizers):
            plane, ax = pictures[kind, name]["plane"], axes[i, j]
            image = ax.pcolormesh(plane.alphas.numpy(), plane.betas.numpy(), logs[kind, name].T, cmap="viridis",
                                  shading="nearest", vmin=low, vmax=high)
            ax.plot(0, 0, "r*", ms=9)
            ax.set_aspect("equal")
            ax.set_xlabel(r"$\alpha$")
            ax.set_ylabel(r"$\beta$")
            ax.set_title(f"{LABELS[kind]}, {name} (seed {s.seeds[0]})", fontsize=10)
    fig.colorbar(image, ax=axes, label=r"$\log_{10}$ training-subset loss (forward pass)")
    fig.suptitle("Loss on the plane of two layer-normalized random directions through each minimum")
    return fig


def support(density) -> list[float]:
    """``[lowest, highest]`` Ritz value with positive weight of a spectral density."""
    nodes = density.nodes[density.weights > 0]
    return [float(nodes.min()), float(nodes.max())]


def summary_text(p: Params, s: Setting, runs: dict, sizes: dict, seed: int, verdict: dict) -> str:
    """The summary's text under its table: the design, what each measure is, and the answers as measured."""
    n_params = runs[MODELS[0], s.optimizers[0]][0]["params"]
    return (
        f"Digits, {sizes['train']} training and {sizes['test']} test images (the split of seed {seed}); SNN (LIF, "
        f"{p.steps} steps of 1 ms, regular-rate input up to {p.max_rate:g} Hz, spike counts as logits) and its ANN "
        f"twin (ReLU MLP), both {list(p.sizes)} without biases ({n_params} weights); {len(s.seeds)} seed(s) from "
        f"{seed} (mean ± std over seeds), each seed its own split, initialization and batch order. Each run "
        f"trained until the training-set cross-entropy was below {s.target_loss:g} (at most {s.max_epochs} "
        f"epochs), so that all minima fit equally well. Learning rates: momentum and SAM {p.momentum_lr:g}, Adam "
        f"{p.adam_lr:g}; SAM: rho {p.rho:g} around momentum SGD. Gaps: train minus test accuracy, test minus train "
        f"cross-entropy.\n\n"
        f"Curvature on {s.curvature_images} seeded training images: top eigenvalue (Lanczos), trace (Hutchinson, "
        f"{s.trace_probes} probes), top / trace, and top |theta|^2 / 2 (nats: the quadratic model's loss rise for "
        f"a step as long as the weights along the sharpest direction). **For the SNN these are the curvature of "
        f"the surrogate-smoothed loss** (what gradient descent sees); its forward loss is piecewise constant in "
        f"the weights. **Forward-loss measures** (real spikes for the SNN): Keskar sharpness (epsilon "
        f"{p.epsilon:g}, percent of 1 + L, a lower bound), slice rise (mean loss at alpha = ±{p.slice_probe:g} "
        f"along a layer-normalized random direction minus the loss at the minimum, nats, same images), and test "
        f"accuracy under relative Gaussian weight noise sigma ({s.noise_draws} seeded draws).\n\n"
        f"Both kinds' losses are cross-entropies in nats at the same training loss, but the SNN's logits are "
        f"spike counts (whole numbers from 0 to {p.steps}) and its Hessian is that of a surrogate, which depends "
        f"on the surrogate's width: compare eigenvalues and traces within a kind, and across kinds the "
        f"scale-free columns (top / trace, top |theta|^2 / 2) and the relative perturbations (Keskar's box, "
        f"alpha, sigma).\n\n"
        f"Did SAM make the minima flatter? As measured (means over seeds; lower is flatter):\n\n"
        f"{verdict_text(verdict)}\n\n"
        f"Are the SNN's minima flatter or sharper than the ANN's? By the scale-free measures (means over seeds; "
        f"lower is flatter; top / trace is the spectrum's shape, not its scale):\n\n{kinds_text(runs, p, s)}\n\n"
        f"![spiking_vs_ann_landscapes](spiking_vs_ann_landscapes.png)\n\n"
        f"![spiking_vs_ann_landscapes_2d](spiking_vs_ann_landscapes_2d.png)")


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Train every (model, optimizer) pair on every seed and measure its minimum. Returns ``runs[model]
    [optimizer]`` (one row per seed), the ``table`` (mean ± std over seeds), SAM's ``sam`` verdict per
    model and, for the first seed, each spectral density's ``density support`` and ``density mean``."""
    p = Params()
    s = setting(p, quick, seed)
    record.write_config({**dataclasses.asdict(p), "quick": quick, "seeds_run": list(s.seeds),
                         "optimizers_run": list(s.optimizers)}, seed)
    runs = {(kind, name): [] for kind in MODELS for name in s.optimizers}
    histories, pictures = {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices: one thread is fastest and deterministic
    try:
        for sd in s.seeds:
            sets = digits_train_test(p.test, sd)
            subset = curvature_subset(p, s, sets, sd)
            for kind in MODELS:
                for name in s.optimizers:
                    model, histories[kind, name, sd] = train(kind, name, p, s, sets, sd)
                    row, drawn = measure(model, p, s, sets, subset, sd, first_seed=sd == s.seeds[0])
                    row["epochs"] = len(histories[kind, name, sd])
                    runs[kind, name].append(row)
                    pictures.setdefault((kind, name), drawn)
                    print(f"seed {sd} {LABELS[kind]} {name}: {row['epochs']} epochs, test accuracy "
                          f"{row['test accuracy']:.3f}, top eigenvalue {row['top eigenvalue']:.4g}", flush=True)
    finally:
        torch.set_num_threads(threads)
    rows = table(runs, p, s)
    print(markdown_table(rows))
    verdict = sam_verdict(runs)
    first = s.seeds[0]
    record.write_metrics(
        [{"kind": "run", "model": kind, "optimizer": name, "seed": sd, **r}
         for (kind, name), per_seed in runs.items() for sd, r in zip(s.seeds, per_seed)]
        + [{"kind": "history", "model": kind, "optimizer": name, "seed": sd, "x": h["epoch"],
            "y": h["train_set_loss"]} for (kind, name, sd), hist in histories.items() for h in hist]
        + [{"kind": "slice", "model": kind, "optimizer": name, "seed": first, "x": float(a), "y": float(v)}
           for (kind, name), drawn in pictures.items() for a, v in zip(drawn["slice"].alphas, drawn["slice"].losses)]
        + [{"kind": "density", "model": kind, "optimizer": name, "seed": first, "x": float(g), "y": float(v)}
           for (kind, name), drawn in pictures.items()
           for g, v in zip(drawn["density"].grid, drawn["density"].density)])
    record.save_figure(figure(runs, pictures, p, s), "spiking_vs_ann_landscapes")
    record.save_figure(plane_figure(pictures, s), "spiking_vs_ann_landscapes_2d")
    sizes = {part: len(v[1]) for part, v in digits_train_test(p.test, seed).items()}
    record.write_summary("Spiking vs ANN loss landscapes", rows, summary_text(p, s, runs, sizes, seed, verdict))
    return {"n_train": sizes["train"], "n_test": sizes["test"], "seeds": list(s.seeds),
            "optimizers": list(s.optimizers), "alphas": s.alphas.tolist(), "table": rows, "sam": verdict,
            "runs": {kind: {name: runs[kind, name] for name in s.optimizers} for kind in MODELS},
            "density support": {kind: {name: support(pictures[kind, name]["density"]) for name in s.optimizers}
                                for kind in MODELS},
            "density mean": {kind: {name: pictures[kind, name]["density"].mean() for name in s.optimizers}
                             for kind in MODELS}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
