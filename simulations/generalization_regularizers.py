"""Generalization and regularizers: one MLP on 300 digits, trained with each regularizer on in turn.

The same MLP (64-256-256-10, ReLU, seeded initialization) learns the
scikit-learn digits from a small training set (300 images), so that it
memorizes them and overfits, with the same seed, optimizer, batches and
number of epochs in every variant. Each variant switches one regularizer
on: L2 weight decay, L1 (both as penalties on the weights), dropout, batch
normalization, data augmentation (random affine transformations plus pixel
noise, on the training batches only), early stopping (on the validation
loss, restoring the best weights) and label smoothing. A fixed, seeded,
stratified split keeps a validation set (for the learning curves and early
stopping) and a test set apart. For every variant we report the accuracy
on the (unaugmented) training set and on the test set, evaluated in
evaluation mode, and the generalization gaps: train minus test accuracy,
and test minus train cross-entropy.
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
from neuroai.data import AddNoise, RandomAffine, load_digits, train_val_test_split
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models import MLP
from neuroai.training import EarlyStopping, Trainer
from neuroai.training.regularization import Augmented, RegularizedLoss

VARIANTS = ("baseline", "l2", "l1", "dropout", "batch_norm", "augmentation", "early_stopping",
            "label_smoothing")
CURVES = ("baseline", "dropout", "augmentation", "early_stopping")   # learning curves (no penalty in their loss)


@dataclass(frozen=True)
class Params:
    n_train: int = 300
    val: float = 0.2                 # fractions of the 1,797 digits
    test: float = 0.3
    sizes: tuple[int, ...] = (64, 256, 256, 10)
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 32
    epochs: int = 60
    quick_epochs: int = 30
    l2: float = 1e-3
    l1: float = 1e-4
    dropout: float = 0.5
    label_smoothing: float = 0.1
    patience: int = 5
    degrees: float = 15.0
    translate: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    noise_std: float = 0.1


class Augmentation:
    """Random affine transformation then Gaussian pixel noise, both drawing
    from one ``generator`` (exposed so that the Trainer seeds it)."""

    def __init__(self, p: Params, generator: torch.Generator):
        self.generator = generator
        self.affine = RandomAffine(p.degrees, p.translate, p.scale, generator=generator)
        self.noise = AddNoise(std=p.noise_std, generator=generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.noise(self.affine(images))


def data(p: Params, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) of the training (``n_train`` images), validation and test sets."""
    images, labels = load_digits()
    split = train_val_test_split(labels, p.val, p.test, seed=seed)
    train = np.sort(np.random.default_rng(seed).permutation(split.train)[:p.n_train])
    x, y = torch.tensor(images), torch.tensor(labels)
    return {name: (x[idx], y[idx]) for name, idx in (("train", train), ("val", split.val), ("test", split.test))}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(cross-entropy, accuracy) in evaluation mode."""
    model.eval()
    out = model(x)
    return nn.functional.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()


@torch.no_grad()
def weight_norm(model: nn.Module) -> float:
    """Euclidean norm of all the ``Linear`` weights (biases excluded)."""
    return float(torch.sqrt(sum(m.weight.pow(2).sum() for m in model.modules() if isinstance(m, nn.Linear))))


def train_variant(name: str, p: Params, sets: dict, epochs: int, seed: int) -> tuple[dict, list[dict]]:
    """Train one variant; returns its result row and its training history."""
    model = MLP(list(p.sizes), dropout=p.dropout if name == "dropout" else 0.0,
                batch_norm=name == "batch_norm", seed=seed)
    base = nn.CrossEntropyLoss(label_smoothing=p.label_smoothing if name == "label_smoothing" else 0.0)
    loss = RegularizedLoss(base, model, l1=p.l1 if name == "l1" else 0.0, l2=p.l2 if name == "l2" else 0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum)
    train = DataLoader(TensorDataset(*sets["train"]), batch_size=p.batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(TensorDataset(*sets["val"]), batch_size=1024)
    if name == "augmentation":
        train = Augmented(train, Augmentation(p, torch.Generator().manual_seed(seed)))
    stopper = EarlyStopping("val_loss", patience=p.patience, restore_best_weights=True)
    callbacks = [stopper] if name == "early_stopping" else []
    trainer = Trainer(model, loss, optimizer, metrics=["accuracy"], callbacks=callbacks, seed=seed,
                      progress=False, device="cpu")
    history = trainer.fit(train, val, epochs=epochs)
    train_loss, train_acc = evaluate(model, *sets["train"])
    test_loss, test_acc = evaluate(model, *sets["test"])
    row = {"variant": name, "train accuracy": train_acc, "test accuracy": test_acc,
           "gap accuracy": train_acc - test_acc, "train loss": train_loss, "test loss": test_loss,
           "gap loss": test_loss - train_loss, "weight norm": weight_norm(model), "epochs used": len(history),
           "best epoch": stopper.best_epoch if callbacks else len(history)}
    return row, history


def figure(rows: list[dict], histories: dict[str, list[dict]], epochs: int) -> Figure:
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    (ax_acc, ax_gap), (ax_curve, ax_curve_gap) = fig.subplots(2, 2)
    names = [r["variant"] for r in rows]
    pos = np.arange(len(rows))
    ax_acc.bar(pos, [r["test accuracy"] for r in rows], color="C0")
    ax_acc.set_ylim(min(r["test accuracy"] for r in rows) - 0.05, 1.0)
    ax_acc.axhline(rows[0]["test accuracy"], color="0.4", lw=0.8, ls="--")
    ax_acc.set_ylabel("test accuracy")
    width = 0.4
    ax_gap.bar(pos - width / 2, [r["gap accuracy"] for r in rows], width, color="C3",
               label="train - test accuracy")
    ax_gap2 = ax_gap.twinx()
    ax_gap2.bar(pos + width / 2, [r["gap loss"] for r in rows], width, color="C1", label="test - train loss")
    ax_gap.set_ylabel("accuracy gap", color="C3")
    ax_gap2.set_ylabel("loss gap", color="C1")
    for ax in (ax_acc, ax_gap):
        ax.set_xticks(pos, names, rotation=30, ha="right")
    ax_gap.set_title("generalization gap (red: accuracy, orange: loss)")
    for i, name in enumerate(CURVES):
        h = histories[name]
        ep = [row["epoch"] for row in h]
        ax_curve.plot(ep, [row["accuracy"] for row in h], color=f"C{i}", ls=":", lw=1)
        ax_curve.plot(ep, [row["val_accuracy"] for row in h], color=f"C{i}", label=name)
        ax_curve_gap.plot(ep, [row["val_loss"] for row in h], color=f"C{i}", label=name)
    ax_curve.set_title("learning curves (dotted: training batches, solid: validation)")
    ax_curve.set_ylabel("accuracy")
    ax_curve_gap.set_ylabel("validation loss")
    ax_curve_gap.set_yscale("log")
    for ax in (ax_curve, ax_curve_gap):
        ax.set_xlabel("epoch")
        ax.set_xlim(1, epochs)
        ax.legend(frameon=False)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Train every variant; returns per variant its train and test accuracy,
    the gaps and the epochs used."""
    p = Params()
    epochs = p.quick_epochs if quick else p.epochs
    record.write_config({**dataclasses.asdict(p), "quick": quick, "epochs_run": epochs, "variants": VARIANTS},
                        seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices: one thread is fastest and deterministic
    try:
        sets = data(p, seed)
        rows, histories = [], {}
        for name in VARIANTS:
            row, histories[name] = train_variant(name, p, sets, epochs, seed)
            rows.append(row)
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(rows))
    record.write_metrics([{"variant": name, **{k: h[k] for k in ("epoch", "loss", "accuracy", "val_loss",
                                                                 "val_accuracy", "gap_loss", "gap_accuracy")}}
                          for name in VARIANTS for h in histories[name]])
    record.save_figure(figure(rows, histories, epochs), "generalization")
    sizes = {k: len(v[1]) for k, v in sets.items()}
    record.write_summary(
        "Regularizers and the generalization gap", rows,
        f"MLP {list(p.sizes)} on digits: {sizes['train']} training, {sizes['val']} validation and "
        f"{sizes['test']} test images; {epochs} epochs of SGD (lr {p.lr}, momentum {p.momentum}), seed {seed}. "
        "Accuracies and losses are measured in evaluation mode on the unaugmented sets; gaps are train - test "
        "accuracy and test - train cross-entropy.\n\n![generalization](generalization.png)")
    return {"epochs": epochs, "n_train": sizes["train"],
            "variants": {r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
