"""Init and gradient flow: initialization makes a deep MLP's activations and gradients vanish or explode; clipping.

A 20-hidden-layer, 64-unit MLP classifies scikit-learn's digits (features
standardized). For each activation (relu, tanh) and each initialization of
the ``Linear`` weights (biases 0):

- ``zeros``: every weight 0 (every unit identical: nothing flows);
- ``small normal``: N(0, 0.01^2) (vanishing: each layer shrinks the signal);
- ``xavier``: Glorot & Bengio (2010) normal with gain 1, var 2/(fan_in+fan_out)
  (right for tanh/linear units; for relu it halves the variance per layer);
- ``kaiming``: He et al. (2015) normal, var gain^2/fan_in with the
  activation's gain (sqrt 2 for relu, 5/3 for tanh);
- ``orthogonal``: Saxe et al. (2014) orthogonal with the activation's gain;
- ``large normal``: N(0, 0.5^2) (exploding for relu: each layer multiplies
  the std by 0.5 * sqrt(64 / 2) = 2.8; tanh saturates instead).

On one probe batch at initialization an :class:`~neuroai.training.monitors.ActivationMonitor`
records each hidden layer's activation std (after the nonlinearity) and a
:class:`~neuroai.training.monitors.GradientMonitor` each layer's weight
gradient norm; then the network is trained for a few epochs with SGD +
momentum. Finally the exploding relu case is trained with and without
:class:`~neuroai.training.GradientClipping`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroai.cli import script_main
from neuroai.data import load_digits, train_val_test_split
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models.mlp import MLP
from neuroai.training import GradientClipping, Trainer
from neuroai.training.monitors import ActivationMonitor, GradientMonitor

INITS = ("zeros", "small normal", "xavier", "kaiming", "orthogonal", "large normal")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class Params:
    depth: int = 20              # hidden layers
    width: int = 64
    small_std: float = 0.01
    large_std: float = 0.5
    probe_batch: int = 256       # samples of the batch measured at initialization
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 15
    quick_epochs: int = 3
    clip_max_norm: float = 1.0


def make_model(p: Params, init: str, activation: str, seed: int) -> MLP:
    """The MLP ``64 -> width x depth -> 10`` with ``init`` (see the module docstring)."""
    builtin = {"zeros": "zeros", "kaiming": "kaiming", "orthogonal": "orthogonal"}
    model = MLP([64] + [p.width] * p.depth + [10], activation, init=builtin.get(init, "zeros"), seed=seed)
    if init in builtin:
        return model
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer, nn.Linear):
                if init == "xavier":
                    nn.init.xavier_normal_(layer.weight, gain=1.0, generator=g)
                else:
                    std = p.small_std if init == "small normal" else p.large_std
                    nn.init.normal_(layer.weight, 0.0, std, generator=g)
    return model


def load_data(seed: int):
    """Standardized digits (train statistics): train and validation tensors."""
    images, labels = load_digits()
    x = torch.from_numpy(images.reshape(len(images), -1))
    y = torch.from_numpy(labels)
    split = train_val_test_split(labels, seed=seed)
    mean, std = x[split.train].mean(0), x[split.train].std(0)
    std[std < 1e-6] = 1.0
    x = (x - mean) / std
    return (x[split.train], y[split.train]), (x[split.val], y[split.val])


def probe(model: MLP, activation: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per hidden layer activation statistics and per Linear layer weight
    gradient norms of one forward/backward pass of ``(x, y)``."""
    acts = ActivationMonitor(model, types=(ACTIVATIONS[activation],))
    grads = GradientMonitor(model)
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads.collect()
    acts.remove()
    grads.remove()
    model.zero_grad(set_to_none=True)
    rows = acts.rows()
    return {"loss": float(loss.detach()), "std": [r["std"] for r in rows], "frac_zero": [r["frac_zero"] for r in rows],
            "frac_saturated": [r["frac_saturated"] for r in rows], "grad": grads.layer_norms("weight")}


def train(p: Params, model: MLP, train_set, val_set, epochs: int, seed: int, clip: float | None = None) -> list[dict]:
    """SGD with momentum; returns the Trainer history (NaN losses are kept, not raised)."""
    loader = DataLoader(TensorDataset(*train_set), batch_size=p.batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(*val_set), batch_size=512)
    callbacks = [GradientClipping(max_norm=clip)] if clip else []
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum),
                      metrics=["accuracy"], callbacks=callbacks, seed=seed, progress=False, device="cpu",
                      divergence_guard=False)  # (the study shows the divergence: it must train through it)
    return trainer.fit(loader, val_loader, epochs=epochs)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Probe and train every (activation, init); train the exploding case
    with and without clipping. Returns per-layer stds and gradient norms,
    their depth ratios, final losses and the clipping comparison."""
    p = Params()
    epochs = p.quick_epochs if quick else p.epochs
    record.write_config({**dataclasses.asdict(p), "quick": quick, "epochs_run": epochs, "inits": INITS,
                         "activations": list(ACTIVATIONS)}, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is faster than several fighting
    try:
        train_set, val_set = load_data(seed)
        xb, yb = train_set[0][:p.probe_batch], train_set[1][:p.probe_batch]
        probes, histories = {}, {}
        for act in ACTIVATIONS:
            for init in INITS:
                model = make_model(p, init, act, seed)
                probes[act, init] = probe(model, act, xb, yb)
                histories[act, init] = train(p, model, train_set, val_set, epochs, seed)
        clipping = {}
        for clip in (None, p.clip_max_norm):
            model = make_model(p, "large normal", "relu", seed)
            clipping[clip] = train(p, model, train_set, val_set, epochs, seed, clip=clip)
    finally:
        torch.set_num_threads(threads)

    d = p.depth
    rows = []
    for (act, init), pr in probes.items():
        h = histories[act, init][-1]
        std, grad = pr["std"], pr["grad"]
        rows.append({"activation": act, "init": init, "std L1": std[0], f"std L{d}": std[-1],
                     f"std L{d}/L1": _ratio(std[-1], std[0]),
                     "dead/sat. L%d" % d: pr["frac_zero"][-1] if act == "relu" else pr["frac_saturated"][-1],
                     "grad L1": grad[0], f"grad L{d}": grad[d - 1], f"grad L1/L{d}": _ratio(grad[0], grad[d - 1]),
                     "loss at init": pr["loss"], f"loss epoch {epochs}": h["loss"], "val acc": h["val_accuracy"]})
    print(f"At initialization (probe batch of {p.probe_batch}): activation std after the nonlinearity of hidden "
          f"layers 1 and {d}, fraction dead (relu, exactly 0) or saturated (tanh, |a| > 0.99) at layer {d}, "
          f"weight-gradient norms of layers 1 and {d}; then training loss and validation accuracy after "
          f"{epochs} epochs:\n")
    print(markdown_table(rows))

    clip_rows = []
    initial = probes["relu", "large normal"]["loss"]
    for clip, hist in clipping.items():
        losses = [r["loss"] for r in hist]
        bad = [r["epoch"] for r in hist if not math.isfinite(r["loss"])]
        clip_rows.append({"large normal + relu": "no clipping" if clip is None else f"clip max_norm={clip}",
                          "loss at init": initial, "loss epoch 1": losses[0], f"loss epoch {epochs}": losses[-1],
                          "first non-finite epoch": bad[0] if bad else "-", "val acc": hist[-1]["val_accuracy"]})
    print("\nExploding case (relu, N(0, %g^2)) trained with and without gradient clipping:\n" % p.large_std)
    print(markdown_table(clip_rows))

    metrics_rows = [{"table": "layer", "activation": act, "init": init, "layer": i + 1, "act_std": pr["std"][i],
                     "frac_zero": pr["frac_zero"][i], "frac_saturated": pr["frac_saturated"][i],
                     "grad_norm": pr["grad"][i]} for (act, init), pr in probes.items() for i in range(d)]
    metrics_rows += [{"table": "epoch", "activation": act, "init": init, "epoch": r["epoch"], "loss": r["loss"],
                      "val_loss": r["val_loss"], "val_accuracy": r["val_accuracy"]}
                     for (act, init), hist in histories.items() for r in hist]
    metrics_rows += [{"table": "clipping", "activation": "relu", "init": "large normal", "clip": clip or 0.0,
                      "epoch": r["epoch"], "loss": r["loss"], "val_loss": r["val_loss"],
                      "val_accuracy": r["val_accuracy"]} for clip, hist in clipping.items() for r in hist]
    record.write_metrics(metrics_rows)

    fig = Figure(figsize=(15, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    layers = np.arange(1, d + 1)
    for r, act in enumerate(ACTIVATIONS):
        for init in INITS:
            pr = probes[act, init]
            if max(pr["std"]) == 0:  # zeros: nothing to show on a log scale
                continue
            line, = axes[r, 0].semilogy(layers, pr["std"], marker="o", ms=3, label=init)
            axes[r, 1].semilogy(layers, np.maximum(pr["grad"][:d], 1e-45), marker="o", ms=3, color=line.get_color())
            losses = np.array([h["loss"] for h in histories[act, init]])
            axes[r, 2].semilogy(np.arange(1, epochs + 1), np.where(np.isfinite(losses), losses, np.nan), marker="o",
                                ms=3, color=line.get_color(), label=init)
        axes[r, 0].set_title(f"{act}: activation std by layer (zeros: all 0, not shown)", fontsize=9)
        axes[r, 1].set_title(f"{act}: weight-gradient norm by layer at init", fontsize=9)
        axes[r, 2].set_title(f"{act}: training loss (NaN not shown)", fontsize=9)
        axes[r, 0].set_ylabel("std of activations")
        axes[r, 1].set_ylabel("||dL/dW||")
        axes[r, 2].set_ylabel("training loss")
        for ax in axes[r, :2]:
            ax.set_xlabel("hidden layer")
        axes[r, 2].set_xlabel("epoch")
    clipped = np.array([h["loss"] for h in clipping[p.clip_max_norm]])
    axes[0, 2].semilogy(np.arange(1, epochs + 1), clipped, "k--", label=f"large normal + clip {p.clip_max_norm}")
    axes[0, 0].legend(frameon=False, fontsize=8)
    axes[0, 2].legend(frameon=False, fontsize=7)
    record.save_figure(fig, "gradient_flow")
    record.write_summary("Initialization and gradient flow in a deep MLP", rows,
                         markdown_table(clip_rows) + "\n\n![gradient flow](gradient_flow.png)")

    def per(key):
        return {act: {init: probes[act, init][key] for init in INITS} for act in ACTIVATIONS}

    return {
        "depth": d, "epochs": epochs,
        "act_std": per("std"),
        "grad_norm": {act: {i: probes[act, i]["grad"][:d] for i in INITS} for act in ACTIVATIONS},
        "frac_zero": per("frac_zero"), "frac_saturated": per("frac_saturated"),
        "final_loss": {act: {i: histories[act, i][-1]["loss"] for i in INITS} for act in ACTIVATIONS},
        "val_accuracy": {act: {i: histories[act, i][-1]["val_accuracy"] for i in INITS} for act in ACTIVATIONS},
        "clipping": {"initial_loss": initial,
                     "without": [r["loss"] for r in clipping[None]],
                     "with": [r["loss"] for r in clipping[p.clip_max_norm]],
                     "max_norm": p.clip_max_norm},
    }


if __name__ == "__main__":
    raise SystemExit(script_main(run))
