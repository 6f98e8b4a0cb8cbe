"""Gradient noise and flat minima: full-batch GD, mini-batch SGD and Langevin dynamics at matched noise on digits.

The same MLP (64-128-128-10, ReLU, same seeded initialization) learns the
scikit-learn digits (a fixed, seeded, stratified split: 70% training, 30%
test) three times, all with plain steps (no momentum, no weight decay) and
the same learning rate:

* ``gd``: full-batch gradient descent, the noiseless reference;
* ``sgd``: mini-batch SGD (batch 16, seeded shuffling), whose gradient
  noise is anisotropic and follows the data;
* ``langevin``: full-batch gradient descent plus isotropic Gaussian noise
  ``sqrt(2 lr T) xi`` (:class:`neuroai.optim.Langevin`).

Matched noise (our choice, documented): the temperature ``T`` is chosen so
that one Langevin step carries as much noise as one SGD step, in total
squared norm, at the initialization: SGD's update noise is
``lr (g_B - g)``, with ``E|g_B - g|^2`` estimated from ``noise_batches``
seeded mini-batches of size 16 against the full gradient ``g``, and the
Langevin noise has ``E|sqrt(2 lr T) xi|^2 = 2 lr T P`` over the ``P``
parameters, hence ``T = lr E|g_B - g|^2 / (2 P)``. Only the shape of the
noise differs: SGD's lies along the few directions the data's gradients
span, Langevin's is spread evenly over all ``P`` directions.

Training length (our choice, documented): the same learning rate and the
same number of parameter updates for every method (``epochs`` SGD epochs;
the full-batch runs make as many full-batch steps as SGD makes mini-batch
steps), so the three runs travel for the same "time" ``lr x steps`` and
differ only in their noise. (The same number of epochs would give the
full-batch runs ~80x fewer steps, and they would not fit.)

For each end point we report the training and test accuracy and loss, the
generalization gaps, the top eigenvalue of the training-set Hessian
(Lanczos on Hessian-vector products) and its trace (Hutchinson, Rademacher
probes). The figure shows the training loss of each run against the
number of steps, and a 1-D slice of the training loss of each end point
along a filter-normalized random direction (Li et al. 2018; same grid, same
seed).
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
from neuroai.landscape import hessian_trace, loss_slice_1d, top_eigenvalues
from neuroai.models import MLP
from neuroai.optim.langevin import Langevin
from neuroai.training import Callback, Trainer
from neuroai.training.metrics import cross_entropy_and_accuracy

RUNS = ("gd", "sgd", "langevin")


@dataclass(frozen=True)
class Params:
    test: float = 0.3                     # fraction of the 1,797 digits held out
    sizes: tuple[int, ...] = (64, 128, 128, 10)
    batch: int = 16                       # the SGD mini-batch
    lr: float = 0.1                       # the same for all three methods
    epochs: int = 60                      # SGD epochs; the full-batch runs take as many steps
    quick_epochs: int = 15
    noise_batches: int = 200              # mini-batches to estimate SGD's gradient noise at the start
    trace_probes: int = 100               # Hutchinson probes
    quick_trace_probes: int = 30
    slice_points: int = 41                # alphas in [-1, 1]
    quick_slice_points: int = 21


class TrainingLoss(Callback):
    """Every ``every`` epochs (and at the last), log the cross-entropy on the
    whole training set as ``train_set_loss`` and keep ``(step, loss)``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int, last: int):
        self.x, self.y, self.every, self.last = x, y, every, last
        self.curve: list[tuple[int, float]] = []

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch % self.every and epoch != self.last:
            return
        loss, _ = cross_entropy_and_accuracy(trainer.model, self.x, self.y)
        logs["train_set_loss"] = loss
        self.curve.append((trainer.global_step, loss))


def _gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return torch.cat([q.grad.reshape(-1) for q in model.parameters()]).detach().clone()


def sgd_noise(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, n: int, seed: int) -> float:
    """``E|g_B - g|^2``: the squared norm of the mini-batch gradient's
    deviation from the full gradient, averaged over ``n`` seeded batches."""
    model.train()
    full = _gradient(model, x, y)
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n):
        idx = torch.randperm(len(y), generator=gen)[:batch]
        total += float(((_gradient(model, x[idx], y[idx]) - full) ** 2).sum())
    model.zero_grad()
    return total / n


def train_run(name: str, p: Params, sets: dict, epochs: int, temperature: float,
              seed: int) -> tuple[nn.Module, dict, list[tuple[int, float]]]:
    """Train one run for the common number of steps; returns the model, its
    result row and its training-loss curve ``[(step, loss)]``."""
    x, y = sets["train"]
    n_train = len(y)
    steps_per_epoch = -(-n_train // p.batch)
    batch = p.batch if name == "sgd" else n_train
    fit_epochs = epochs if name == "sgd" else epochs * steps_per_epoch
    model = MLP(list(p.sizes), seed=seed)
    if name == "langevin":
        optimizer = Langevin(model.parameters(), lr=p.lr, temperature=temperature, seed=seed)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=p.lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    curve = TrainingLoss(x, y, every=1 if name == "sgd" else steps_per_epoch, last=fit_epochs)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, callbacks=[curve], seed=seed, progress=False,
                      device="cpu")
    trainer.fit(loader, epochs=fit_epochs)
    train_loss, train_acc = cross_entropy_and_accuracy(model, x, y)
    test_loss, test_acc = cross_entropy_and_accuracy(model, *sets["test"])
    row = {"run": name, "batch size": batch, "lr": p.lr, "temperature": temperature if name == "langevin" else 0.0,
           "steps": trainer.global_step, "train accuracy": train_acc, "test accuracy": test_acc,
           "gap accuracy": train_acc - test_acc, "train loss": train_loss, "test loss": test_loss,
           "gap loss": test_loss - train_loss}
    return model, row, curve.curve


def measure(model: nn.Module, row: dict, sets: dict, probes: int, seed: int) -> None:
    """Add the top Hessian eigenvalue and the Hutchinson trace (training set) to ``row``."""
    loss_fn = nn.CrossEntropyLoss()
    model.eval()
    row["top eigenvalue"] = float(top_eigenvalues(model, loss_fn, sets["train"], k=1, seed=seed).eigenvalues[0])
    trace = hessian_trace(model, loss_fn, sets["train"], num_probes=probes, seed=seed)
    row["hessian trace"] = trace.trace
    row["trace stderr"] = trace.stderr


def figure(curves: dict, slices: dict, rows: list[dict]) -> Figure:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_curve, ax_slice = fig.subplots(1, 2)
    for i, row in enumerate(rows):
        steps, losses = zip(*curves[row["run"]])
        ax_curve.plot(steps, losses, color=f"C{i}", label=row["run"])
        s = slices[row["run"]]
        ax_slice.plot(s.alphas.numpy(), s.losses.numpy(), color=f"C{i}", marker=".",
                      label=f"{row['run']} ($\\lambda_{{max}}$={row['top eigenvalue']:.2f}, "
                            f"tr H={row['hessian trace']:.1f})")
    ax_curve.set_yscale("log")
    ax_curve.set_xlabel("parameter updates")
    ax_curve.set_ylabel("training loss (whole training set)")
    ax_curve.set_title(f"same lr ({rows[0]['lr']}), same number of steps")
    ax_curve.legend(frameon=False)
    ax_slice.set_yscale("log")
    ax_slice.set_xlabel(r"$\alpha$ (filter-normalized random direction)")
    ax_slice.set_ylabel("training loss")
    ax_slice.set_title("1-D loss slices around each end point")
    ax_slice.legend(frameon=False, fontsize=8)
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Train the three runs; returns the matched temperature and, per run,
    its accuracies, losses, gaps, top eigenvalue, Hessian trace and slice
    minimum."""
    p = Params()
    epochs = p.quick_epochs if quick else p.epochs
    probes = p.quick_trace_probes if quick else p.trace_probes
    n_slice = p.quick_slice_points if quick else p.slice_points
    alphas = torch.tensor(np.round(np.linspace(-1, 1, n_slice), 9))       # exact 0 at the centre
    loss_fn = nn.CrossEntropyLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices: one thread is fastest and deterministic
    try:
        sets = digits_train_test(p.test, seed)
        init = MLP(list(p.sizes), seed=seed)
        n_params = sum(q.numel() for q in init.parameters())
        noise = sgd_noise(init, *sets["train"], p.batch, p.noise_batches, seed)
        temperature = p.lr * noise / (2 * n_params)
        record.write_config({**dataclasses.asdict(p), "quick": quick, "runs": RUNS, "epochs_used": epochs,
                             "sgd_noise_sq_norm": noise, "n_params": n_params, "temperature": temperature}, seed)
        rows, curves, slices = [], {}, {}
        for name in RUNS:
            model, row, curves[name] = train_run(name, p, sets, epochs, temperature, seed)
            measure(model, row, sets, probes, seed)
            # the same seed draws the same Gaussian direction, each filter-normalized to its own end point
            slices[name] = loss_slice_1d(model, loss_fn, sets["train"], alphas=alphas, seed=seed)
            row["slice argmin alpha"] = float(alphas[int(torch.argmin(slices[name].losses))])
            rows.append(row)
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(rows))
    record.write_metrics(
        [{"kind": "history", "run": name, "x": s, "loss": v} for name in RUNS for s, v in curves[name]]
        + [{"kind": "slice", "run": name, "x": float(a), "loss": float(v)}
           for name in RUNS for a, v in zip(slices[name].alphas, slices[name].losses)])
    record.save_figure(figure(curves, slices, rows), "sgd_noise")
    sizes = {k: len(v[1]) for k, v in sets.items()}
    record.write_summary(
        "Gradient noise and the flatness of minima", rows,
        f"MLP {list(p.sizes)} ({n_params} parameters) on digits: {sizes['train']} training and {sizes['test']} "
        f"test images, seed {seed}. Full-batch gradient descent, SGD (batch {p.batch}) and full-batch Langevin "
        f"dynamics, all with lr {p.lr}, no momentum, and {rows[0]['steps']} parameter updates ({epochs} SGD "
        f"epochs). Langevin temperature {temperature:.3g}, chosen so that its per-step noise has the same "
        f"squared norm as SGD's at the initialization (E|g_B - g|^2 = {noise:.4g}; T = lr E|g_B - g|^2 / 2P). "
        f"Top eigenvalue of the training-set Hessian (Lanczos) and its trace (Hutchinson, {probes} probes).\n\n"
        f"![sgd_noise](sgd_noise.png)")
    return {"n_train": sizes["train"], "n_test": sizes["test"], "n_params": n_params,
            "sgd_noise_sq_norm": noise, "temperature": temperature, "alphas": alphas.tolist(),
            "runs": {r["run"]: {k: v for k, v in r.items() if k != "run"} for r in rows}}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
