"""Large-batch training finds sharper minima: one MLP on digits, batch 16 against the full batch (Keskar et al. 2017).

The same MLP (64-128-128-10, ReLU, same seeded initialization) learns the
scikit-learn digits (a fixed, seeded, stratified split: 70% training, 30%
test) twice: with small batches (16 images, lr 0.01) and with the whole
training set as one batch (full-batch gradient descent, lr 0.1), both with
SGD and momentum 0.9 and the same seeded shuffling.

Stopping rule (our choice, documented): instead of a fixed number of epochs
or of steps, each run trains until the cross-entropy on the whole training
set falls below the same target (``target_loss``, checked after every
epoch). The Hessian of the cross-entropy shrinks as the loss goes to zero,
so curvature is only comparable between minima fitted equally well; with
the same number of epochs the full-batch run would take ~80x fewer steps
and not fit, with the same number of steps it would overfit much further.
The learning rates were tuned modestly per batch size (a larger step for
the smoother full-batch gradient, as Keskar et al. tune theirs).

For each minimum we report the training and test accuracy and loss, the
generalization gaps, the top eigenvalue of the training-set Hessian
(Lanczos on Hessian-vector products) and Keskar et al.'s epsilon-sharpness
(the largest relative loss increase in the box ``|y_i| <= eps (|x_i| + 1)``,
found by projected sign-gradient ascent, a lower bound). The figure shows a
1-D slice of the training loss of each minimum along a filter-normalized
random direction (Li et al. 2018; same grid, same seed) and the training and
test loss along the straight line between the two minima (Goodfellow et al.
2015; Keskar et al.'s figure 2).
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
from neuroai.data import digits_train_test
from neuroai.experiments import RunRecord, markdown_table
from neuroai.landscape import keskar_sharpness, linear_interpolation, loss_slice_1d, top_eigenvalues
from neuroai.models import MLP
from neuroai.training import Callback, Trainer
from neuroai.training.metrics import cross_entropy_and_accuracy

RUNS = ("small_batch", "large_batch")


@dataclass(frozen=True)
class Params:
    test: float = 0.3                     # fraction of the 1,797 digits held out
    sizes: tuple[int, ...] = (64, 128, 128, 10)
    small_batch: int = 16
    large_batch: int | None = None        # None: the whole training set (full-batch gradient descent)
    small_lr: float = 0.01
    large_lr: float = 0.1
    momentum: float = 0.9
    target_loss: float = 0.01             # stop when the training-set cross-entropy is below this
    max_epochs: int = 400
    epsilon: float = 1e-3                 # Keskar et al.'s box size
    sharpness_steps: int = 20
    quick_sharpness_steps: int = 10
    slice_points: int = 41                # alphas in [-1, 1]
    quick_slice_points: int = 21
    interpolation_points: int = 41        # t in [-0.5, 1.5]
    quick_interpolation_points: int = 21


class StopAtTrainingLoss(Callback):
    """After every epoch, compute the cross-entropy on the whole training set
    (logged as ``train_set_loss``) and stop once it is below ``target``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, target: float):
        self.x, self.y, self.target = x, y, target

    def on_epoch_end(self, trainer, epoch, logs):
        loss, _ = cross_entropy_and_accuracy(trainer.model, self.x, self.y)
        logs["train_set_loss"] = loss
        if loss < self.target:
            trainer.stop_training = True


def train_run(name: str, p: Params, sets: dict, seed: int) -> tuple[nn.Module, dict, list[dict]]:
    """Train one run to the target loss; returns the model, its result row and its history."""
    n_train = len(sets["train"][1])
    batch = p.small_batch if name == "small_batch" else (p.large_batch or n_train)
    lr = p.small_lr if name == "small_batch" else p.large_lr
    model = MLP(list(p.sizes), seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=p.momentum)
    loader = DataLoader(TensorDataset(*sets["train"]), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    stop = StopAtTrainingLoss(*sets["train"], p.target_loss)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, metrics=["accuracy"], callbacks=[stop],
                      seed=seed, progress=False, device="cpu")
    history = trainer.fit(loader, epochs=p.max_epochs)
    train_loss, train_acc = cross_entropy_and_accuracy(model, *sets["train"])
    test_loss, test_acc = cross_entropy_and_accuracy(model, *sets["test"])
    row = {"run": name, "batch size": batch, "lr": lr, "epochs": len(history), "steps": trainer.global_step,
           "train accuracy": train_acc, "test accuracy": test_acc, "gap accuracy": train_acc - test_acc,
           "train loss": train_loss, "test loss": test_loss, "gap loss": test_loss - train_loss}
    return model, row, history


def measure(model: nn.Module, row: dict, p: Params, sets: dict, quick: bool, seed: int) -> None:
    """Add the top Hessian eigenvalue and Keskar sharpness (training set) to ``row``."""
    loss_fn = nn.CrossEntropyLoss()
    model.eval()
    row["top eigenvalue"] = float(top_eigenvalues(model, loss_fn, sets["train"], k=1, seed=seed).eigenvalues[0])
    steps = p.quick_sharpness_steps if quick else p.sharpness_steps
    row["keskar sharpness"] = keskar_sharpness(model, loss_fn, sets["train"], epsilon=p.epsilon, steps=steps,
                                               seed=seed).sharpness


def figure(slices: dict, interp_train, interp_test, rows: list[dict]) -> Figure:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_slice, ax_interp = fig.subplots(1, 2)
    for i, row in enumerate(rows):
        s = slices[row["run"]]
        ax_slice.plot(s.alphas.numpy(), s.losses.numpy(), color=f"C{i}", marker=".",
                      label=f"{row['run']} (B={row['batch size']}, $\\lambda_{{max}}$={row['top eigenvalue']:.2f})")
    ax_slice.set_yscale("log")
    ax_slice.set_xlabel(r"$\alpha$ (filter-normalized random direction)")
    ax_slice.set_ylabel("training loss")
    ax_slice.set_title("1-D loss slices around each minimum")
    ax_slice.legend(frameon=False, fontsize=8)
    t = interp_train.ts.numpy()
    ax_interp.plot(t, interp_train.losses.numpy(), color="k", label="training loss")
    ax_interp.plot(t, interp_test.losses.numpy(), color="k", ls="--", label="test loss")
    ax_interp.set_yscale("log")
    for x, name in ((0.0, rows[0]["run"]), (1.0, rows[1]["run"])):
        ax_interp.axvline(x, color="0.6", lw=0.8)
        ax_interp.annotate(name, (x, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                           fontsize=8)
    ax_interp.set_xlabel(r"$t$ in $(1 - t)\,\theta_{small} + t\,\theta_{large}$")
    ax_interp.set_ylabel("cross-entropy")
    ax_interp.legend(frameon=False)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Train both runs; returns per run its accuracies, losses, gaps, top
    eigenvalue and Keskar sharpness, plus the slice minima and the
    interpolation barrier."""
    p = Params()
    record.write_config({**dataclasses.asdict(p), "quick": quick, "runs": RUNS}, seed)
    n_slice = p.quick_slice_points if quick else p.slice_points
    n_interp = p.quick_interpolation_points if quick else p.interpolation_points
    alphas = torch.tensor(np.round(np.linspace(-1, 1, n_slice), 9))       # exact 0 at the centre
    ts = torch.tensor(np.round(np.linspace(-0.5, 1.5, n_interp), 9))      # exact 0 and 1
    loss_fn = nn.CrossEntropyLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices: one thread is fastest and deterministic
    try:
        sets = digits_train_test(p.test, seed)
        models, rows, histories, slices = {}, [], {}, {}
        for name in RUNS:
            models[name], row, histories[name] = train_run(name, p, sets, seed)
            measure(models[name], row, p, sets, quick, seed)
            # the same seed draws the same Gaussian direction, each filter-normalized to its own minimum
            slices[name] = loss_slice_1d(models[name], loss_fn, sets["train"], alphas=alphas, seed=seed)
            row["slice argmin alpha"] = float(alphas[int(torch.argmin(slices[name].losses))])
            rows.append(row)
        interp_train = linear_interpolation(models["small_batch"], models["large_batch"], loss_fn, sets["train"],
                                            ts=ts)
        interp_test = linear_interpolation(models["small_batch"], models["large_batch"], loss_fn, sets["test"],
                                           ts=ts)
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(rows))
    inside = (ts >= 0) & (ts <= 1)
    ends = interp_train.losses[(ts == 0) | (ts == 1)]
    barrier = float(interp_train.losses[inside].max() - ends.max())   # 0: no bump on the segment
    record.write_metrics(
        [{"kind": "history", "run": name, "x": h["epoch"], "loss": h["train_set_loss"]}
         for name in RUNS for h in histories[name]]
        + [{"kind": "slice", "run": name, "x": float(a), "loss": float(v)}
           for name in RUNS for a, v in zip(slices[name].alphas, slices[name].losses)]
        + [{"kind": f"interpolation_{part}", "run": "small->large", "x": float(t), "loss": float(v)}
           for part, it in (("train", interp_train), ("test", interp_test)) for t, v in zip(it.ts, it.losses)])
    record.save_figure(figure(slices, interp_train, interp_test, rows), "batch_size_sharpness")
    sizes = {k: len(v[1]) for k, v in sets.items()}
    record.write_summary(
        "Batch size and the sharpness of minima", rows,
        f"MLP {list(p.sizes)} on digits: {sizes['train']} training and {sizes['test']} test images; SGD with "
        f"momentum {p.momentum}, batch {rows[0]['batch size']} (lr {p.small_lr}) vs {rows[1]['batch size']} "
        f"(lr {p.large_lr}), each trained until the training-set cross-entropy is below {p.target_loss} "
        f"(so both minima fit equally well), seed {seed}. Top eigenvalue of the training-set Hessian (Lanczos); "
        f"Keskar sharpness with epsilon {p.epsilon} (percent, a lower bound). Loss barrier on the segment "
        f"between the minima (training set): {barrier:.4f}.\n\n![batch_size_sharpness](batch_size_sharpness.png)")
    return {"n_train": sizes["train"], "n_test": sizes["test"], "barrier": barrier,
            "alphas": alphas.tolist(),
            "runs": {r["run"]: {k: v for k, v in r.items() if k != "run"} for r in rows}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
