"""The optimizer suite training the same MLP and the same surrogate-gradient SNN on digits: which optimizer for spiking vs ANN.

Two models of the same topology, ``64 -> 32 -> 10``, learn scikit-learn's
digits (one seeded, stratified 70/10/20 split):

- **MLP**: ReLU hidden units, a linear read-out (:class:`neuroai.models.MLP`);
- **SNN**: LIF hidden and output neurons trained by backpropagation through
  time with snnTorch's surrogate gradient, spike counts as logits
  (:class:`neuroai.models.SpikingClassifier`). Its input is *regular*
  (deterministic) rate coding, so the SNN's loss is a deterministic function
  of the weights, as line searches, SVRG and quasi-Newton methods assume
  (with Poisson input every re-evaluation would draw new spikes).

Every optimizer of the suite (``neuroai.optim.make_optimizer``) trains each
model from the same initialization with the same budget: a number of
*passes* over the training set, counting every loss-and-gradient evaluation
(a mini-batch of ``b`` images is ``b / n`` of a pass; full-batch methods
spend one pass per evaluation, line searches several per step; SVRG spends
two mini-batch gradients per step plus one full pass per snapshot; each of
Newton-CG's Hessian-vector products counts as one evaluation). A step is
never cut short, so a run may overshoot the budget by its last step. torch's
L-BFGS does one iteration per step here (``max_iter=1``, with up to 25
evaluations for its line search) so that its evaluations are counted like
the others'. The step size of each method is
tuned on the validation set from a grid around its default (0.1x to 10x)
with a shorter budget; the line-search, BFGS, Newton-CG and L-BFGS methods
start each step at 1 and are not tuned. Dense Newton is left out: its
``n x n`` Hessian (2,410 parameters) costs a few hundred Hessian-vector
products per step, too slow to be worth showing (see the optimizer
benchmark).

The surrogate gradient is not the gradient of the SNN's loss (spike counts
are piecewise constant in the weights): methods that test the loss along
the gradient (Armijo, BFGS, Newton-CG, L-BFGS) rely on the surrogate being
a descent direction of the true loss, while first-order methods only follow
it. The table shows how each family fares on each model.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from neuroai.cli import script_main
from neuroai.coding import RegularRate
from neuroai.data import load_digits, train_val_test_split
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models import MLP, SpikingClassifier, feedforward_network
from neuroai.optim import OPTIMIZERS, make_optimizer
from neuroai.training.metrics import cross_entropy_and_accuracy

MODELS = ("mlp", "snn")
ALL = ("gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "lbfgs",
       "armijo", "bfgs", "newton_cg", "svrg", "langevin")
UNTUNED = ("lbfgs", "armijo", "goldstein", "bfgs", "newton_cg", "newton")  # first trial step 1


@dataclass(frozen=True)
class Params:
    val: float = 0.1
    test: float = 0.2
    hidden: int = 32
    batch: int = 32                   # mini-batch of the stochastic methods
    passes: float = 30.0              # training budget: passes over the training set
    tune_passes: float = 5.0          # budget of each learning-rate trial
    lr_factors: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)   # tried around each method's default lr
    snn_steps: int = 15               # 1 ms simulation steps per image
    snn_max_rate: float = 500.0       # Hz, the regular input's rate for a white pixel (the SNN default)
    optimizers: tuple[str, ...] = ALL


QUICK = dict(passes=3.0, tune_passes=1.0, lr_factors=(1.0,),
             optimizers=("gd", "sgd", "momentum", "adam", "lbfgs", "armijo", "newton_cg", "svrg"))


def data(p: Params, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    images, labels = load_digits()
    split = train_val_test_split(labels, p.val, p.test, seed=seed)
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.long)
    return {name: (x[idx], y[idx]) for name, idx in
            (("train", split.train), ("val", split.val), ("test", split.test))}


def make_model(kind: str, p: Params, seed: int) -> nn.Module:
    if kind == "mlp":
        return MLP([64, p.hidden, 10], activation="relu", seed=seed)
    net = feedforward_network([64, p.hidden, 10], encoder=RegularRate(max_rate=p.snn_max_rate), seed=seed)
    return SpikingClassifier(net, steps=p.snn_steps)


@dataclass
class Run:
    """One training run: its learning curve ``(passes, train loss, val accuracy)`` and costs."""
    curve: list[tuple[float, float, float]]
    steps: int
    seconds: float
    diverged: bool


def train(model: nn.Module, name: str, lr: float | None, sets: dict, budget: float, batch: int, seed: int) -> Run:
    """Train ``model`` with optimizer ``name`` until ``budget`` passes are spent (or the loss diverges)."""
    x, y = sets["train"]
    n = len(y)
    spec = OPTIMIZERS[name]
    spent = 0.0

    def closure_on(xb, yb):
        def closure():
            nonlocal spent
            spent += len(yb) / n
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward(create_graph=spec.create_graph)
            return loss
        return closure

    hyper = {} if lr is None else {"lr": lr}
    if name == "svrg":
        hyper.update(full_closure=closure_on(x, y), snapshot_every=math.ceil(n / batch))
    elif name == "lbfgs":  # one iteration per step; its strong-Wolfe search may evaluate up to 25 times
        hyper.update(max_iter=1, max_eval=25)
    elif name == "langevin":
        hyper.update(seed=seed)
    optimizer = make_optimizer(name, model.parameters(), **hyper)
    generator = torch.Generator().manual_seed(seed)

    def observe():
        loss, _ = cross_entropy_and_accuracy(model, x, y)
        curve.append((spent, loss, cross_entropy_and_accuracy(model, *sets["val"])[1]))
        return loss

    curve: list[tuple[float, float, float]] = []
    observe()
    steps, diverged, start = 0, False, time.perf_counter()
    while spent < budget and not diverged:
        order = [torch.arange(n)] if spec.full_batch else torch.randperm(n, generator=generator).split(batch)
        for idx in order:
            closure = closure_on(x[idx], y[idx])
            if spec.requires_closure:
                loss = optimizer.step(closure)
            else:
                loss = closure()
                optimizer.step()
            steps += 1
            if name == "newton_cg":  # each Hessian-vector product costs about one more gradient
                spent += optimizer.state[next(model.parameters())]["cg_iterations"] * len(idx) / n
            if not torch.isfinite(loss) or any(not torch.isfinite(q).all() for q in model.parameters()):
                diverged = True
                break
            if spent >= budget:
                break
        if not diverged:
            diverged = not math.isfinite(observe())
    return Run(curve, steps, time.perf_counter() - start, diverged)


def tune(kind: str, name: str, p: Params, sets: dict, seed: int) -> float | None:
    """The step size with the best validation accuracy after ``tune_passes`` (None: not tuned)."""
    if name in UNTUNED:
        return None
    default = OPTIMIZERS[name].defaults["lr"]
    best, best_acc = default, -1.0
    for factor in p.lr_factors:
        lr = default * factor
        run = train(make_model(kind, p, seed), name, lr, sets, p.tune_passes, p.batch, seed)
        acc = -1.0 if run.diverged else run.curve[-1][2]
        if acc > best_acc:
            best, best_acc = lr, acc
    return best


def evaluate(kind: str, name: str, p: Params, sets: dict, seed: int) -> tuple[dict, Run]:
    lr = tune(kind, name, p, sets, seed)
    model = make_model(kind, p, seed)
    run = train(model, name, lr, sets, p.passes, p.batch, seed)
    train_loss, train_acc = cross_entropy_and_accuracy(model, *sets["train"])
    _, test_acc = cross_entropy_and_accuracy(model, *sets["test"])
    passes = run.curve[-1][0]
    row = {"model": kind, "optimizer": name, "lr": "first step 1" if lr is None else lr,
           "passes": passes, "steps": run.steps, "train loss": train_loss, "train accuracy": train_acc,
           "test accuracy": test_acc, "seconds": run.seconds, "seconds per pass": run.seconds / max(passes, 1e-12),
           "diverged": run.diverged}
    return row, run


def figure(rows: list[dict], runs: dict) -> Figure:
    fig = Figure(figsize=(13, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    names = list(dict.fromkeys(r["optimizer"] for r in rows))
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    styles = {name: "-" if i < 10 else "--" for i, name in enumerate(names)}
    for col, kind in enumerate(MODELS):
        for name in names:
            curve = np.array(runs[kind, name].curve)
            axes[0, col].plot(curve[:, 0], curve[:, 1], styles[name], color=colors[name], label=name)
        axes[0, col].set_yscale("log")
        axes[0, col].set_xlabel("passes over the training set")
        axes[0, col].set_ylabel("training loss")
        axes[0, col].set_title(f"{kind.upper()}: training loss at equal cost")
    axes[0, 1].legend(frameon=False, fontsize=7, ncol=2)
    width = 0.4
    for i, kind in enumerate(MODELS):
        acc = [next(r["test accuracy"] for r in rows if r["model"] == kind and r["optimizer"] == n) for n in names]
        axes[1, 0].bar(np.arange(len(names)) + (i - 0.5) * width, acc, width, label=kind.upper())
        per_pass = [next(r["seconds per pass"] for r in rows if r["model"] == kind and r["optimizer"] == n)
                    for n in names]
        axes[1, 1].bar(np.arange(len(names)) + (i - 0.5) * width, per_pass, width, label=kind.upper())
    for ax, label in ((axes[1, 0], "test accuracy"), (axes[1, 1], "seconds per pass")):
        ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel(label)
        ax.legend(frameon=False)
    axes[1, 1].set_yscale("log")
    return fig


def run(record: RunRecord, *, quick: bool = False, seed: int = 0) -> dict:
    """Train every (model, optimizer) pair; returns their test accuracies and final training losses."""
    p = dataclasses.replace(Params(), **QUICK) if quick else Params()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest and deterministic
    try:
        sets = data(p, seed)
        record.write_config({**dataclasses.asdict(p), "quick": quick}, seed)
        rows, runs = [], {}
        for kind in MODELS:
            for name in p.optimizers:
                row, runs[kind, name] = evaluate(kind, name, p, sets, seed)
                rows.append(row)
                print(f"{kind} {name}: test accuracy {row['test accuracy']:.3f}, {row['seconds']:.1f} s", flush=True)
    finally:
        torch.set_num_threads(threads)
    print(markdown_table(rows))
    record.write_metrics([{"model": kind, "optimizer": name, "passes": c[0], "train loss": c[1], "val accuracy": c[2]}
                          for (kind, name), r in runs.items() for c in r.curve])
    record.save_figure(figure(rows, runs), "optimizers_on_networks")
    sizes = {k: len(v[1]) for k, v in sets.items()}
    record.write_summary(
        "The optimizer suite on an MLP and a surrogate-gradient SNN", rows,
        f"Digits, {sizes['train']} training / {sizes['val']} validation / {sizes['test']} test images, seed {seed}. "
        f"Both models 64-{p.hidden}-10, same initialization for every optimizer; SNN: LIF neurons, "
        f"{p.snn_steps} steps of 1 ms, regular rate input (max {p.snn_max_rate:g} Hz). Budget: {p.passes:g} passes "
        f"over the training set (every loss evaluation counted), mini-batch {p.batch}; step sizes tuned on the "
        f"validation set from x{list(p.lr_factors)} of each default with {p.tune_passes:g} passes.\n\n"
        "![optimizers_on_networks](optimizers_on_networks.png)")
    return {f"{r['model']}/{r['optimizer']}": {"test_accuracy": r["test accuracy"], "train_loss": r["train loss"],
                                               "passes": r["passes"], "diverged": r["diverged"]} for r in rows}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
