"""Vanishing and exploding gradients through time: RNN, LSTM, GRU and spiking RNNs; delays, clipping, orthogonal init.

Backpropagation through time multiplies one Jacobian per step. For a loss
``L`` on the last output of a sequence ``x_0 .. x_T``::

    dL/dx_t = dL/dh_T  (prod_{k=t+1..T} dh_k/dh_{k-1})  dh_t/dx_t

so the gradient that reaches an input ``T - t`` steps back is a product of
``T - t`` matrices, and it shrinks or grows geometrically with the distance:

* **tanh RNN**, ``h_k = tanh(W h_{k-1} + U x_k)``: ``dh_k/dh_{k-1} =
  diag(1 - h_k^2) W``. With tanh' <= 1, a largest singular value of ``W``
  below 1 is sufficient for vanishing gradients (Bengio, Simard & Frasconi
  1994), and one above 1 is necessary for exploding ones (Pascanu, Mikolov
  & Bengio 2013). torch's default ``U(-1/sqrt(h), 1/sqrt(h))`` has a
  spectral radius near ``1/sqrt(3) = 0.58``: the gradient loses a factor of
  about 0.6 per step, so after 100 steps nothing is left to learn from.
* **Orthogonal** recurrent weights (Saxe et al. 2014; identity/orthogonal
  RNNs: Le et al. 2015, Arjovsky et al. 2016) have every singular value 1,
  so only the tanh' factors shrink the gradient; scaled up (here orthogonal
  times ``explode_gain``) the network is chaotic and the gradients explode.
* **LSTM** (Hochreiter & Schmidhuber 1997): the cell state ``c_k = f_k c_{k-1}
  + i_k g_k`` is additive, its Jacobian along that path is ``diag(f_k)``:
  gates near 1 carry the error back unchanged (forget bias 1 at the start).
  **GRU** (Cho et al. 2014): ``h_k = (1 - z_k) n_k + z_k h_{k-1}``; its update
  gate starts near 1/2, so at initialization its gradients decay nearly as
  fast as the RNN's, but training can push ``z`` towards 1.
* **Exploding gradients** show up as rare, huge steps ("cliffs"); clipping
  the gradient norm to a threshold (Pascanu et al. 2013) keeps the direction
  and bounds the step.
* **Spiking RNN** (snnTorch ``RLeaky``): ``U_k = beta U_{k-1} + W_in x_k +
  W S_{k-1} - theta S_{k-1}`` (the reset detached), ``S_k = H(U_k - theta)``
  whose derivative is replaced by a surrogate ``s(U - theta)`` (snnTorch's
  ATan: ``1 / (1 + (pi u)^2)``, peak 1, heavy tails). So ``dU_k/dU_{k-1} =
  beta I + W diag(s(U_{k-1} - theta))``: the membrane leak ``beta`` and the
  surrogate set the decay. With beta 0.9 and threshold 1 (this study's setting: a slowly leaking
  membrane; the library defaults to 0.2 for one step per token) the
  sum slightly exceeds 1 and the gradients grow; a leakier membrane
  (``leaky_beta``) makes them vanish. The **spiking LSTM** (snnTorch's
  ``SLSTM`` cell) recurs on its continuous ``(h, c)`` and passes only
  spikes ``[h > threshold]`` on; its forget gates start near 1/2 (no forget
  bias), so its gradients decay faster than the LSTM's.

Three parts, all on the copy-memory task (:func:`neuroai.data.copy_memory`:
``length`` symbols of ``symbols``, ``delay`` blanks, then recall; one-hot
inputs, a label per step, every model ``many_to_many`` with ``hidden`` units):

1. **Gradient profiles at initialization**: ``|dL/dx_t|`` (batch mean,
   :func:`neuroai.models.recurrent.input_gradient_norms`), ``L`` the
   cross-entropy of the last output, on sequences of ``profile_length``
   steps, for the RNN (default, orthogonal, scaled orthogonal), LSTM, GRU,
   the spiking RNN (``beta`` and ``leaky_beta``) and the spiking LSTM. The
   decay factor per step is ``exp(-slope)`` of a least-squares line through
   ``log |dL/dx_t|`` against ``t`` (below 1: vanishing, above 1:
   exploding), beside the ratio ``|dL/dx_0| / |dL/dx_T|``. The non-spiking
   models run in float64 (the RNN's ratio reaches 1e-24); snnTorch's
   surrogate casts spikes to float32, so the spiking ones run in float32
   (hence ``profile_length`` 100: at 150 the spiking LSTM's underflows).
2. **Delay sweep**: the RNN, LSTM, GRU and spiking RNN (the spiking LSTM,
   as slow to train as the spiking RNN, is left out to keep the run short),
   each trained on the copy task at each delay with the same budget (Adam,
   learning rate ``adam_lr``, norm clipped to ``clip``, ``steps`` batches
   of ``batch`` fresh seeded sequences); recall accuracy on ``eval_batch``
   held-out sequences (chance ``1/symbols``), the cross-entropy per step
   over the memoryless baseline (:func:`neuroai.data.copy_memory_baseline`)
   and the gradient ratio ``|dL/dx_0| / |dL/dx_T|`` at that delay before
   and after training.
3. **Clipping and orthogonal initialization** of the tanh RNN at
   ``variant_delay``: default, +clipping, +orthogonal, +both, trained with
   plain SGD with momentum (Pascanu et al.'s setting: Adam divides each step
   by a running RMS of the gradient, which already damps most explosions).
   Learning curves, final accuracy, and the fraction of steps whose
   unclipped gradient norm exceeded the clipping threshold.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from neuroai.cli import count, script_main
from neuroai.data.sequences import copy_memory, copy_memory_baseline
from neuroai.experiments import RunRecord, markdown_table
from neuroai.models.recurrent import SequenceModel, input_gradient_norms, recurrent_weights

CELLS = ("rnn", "lstm", "gru", "spiking_rnn")
VARIANTS = {"default": ("default", False), "+clipping": ("default", True),      # name -> (init, clipped)
            "+orthogonal": ("orthogonal", False), "+both": ("orthogonal", True)}
EVAL_STEP = -1          # batch_seed's step of the held-out sequences


@dataclass(frozen=True)
class Params:
    hidden: int = 64                      # units of every recurrent core
    length: int = 3                       # symbols to remember
    symbols: int = 4                      # alphabet size: chance recall is 1/symbols
    profile_length: int = 100             # T of the part-1 gradient profiles
    profile_batch: int = 64               # sequences averaged in a gradient profile
    explode_gain: float = 2.0             # part 1: orthogonal recurrent weights times this gain
    beta: float = 0.9                     # spiking membrane decay per step (a slowly leaking membrane)
    leaky_beta: float = 0.7               # part 1: a leakier spiking membrane
    delays: tuple[int, ...] = (5, 10, 30, 60, 100)    # part 2
    steps: int = 1500                     # training steps of every run (parts 2 and 3)
    batch: int = 64                       # fresh seeded sequences per step
    eval_batch: int = 500                 # held-out sequences for recall accuracy
    adam_lr: float = 1e-2                 # part 2
    clip: float = 1.0                     # gradient-norm threshold (part 2 always, part 3 where on)
    variant_delay: int = 10               # part 3
    sgd_lr: float = 0.1                   # part 3
    momentum: float = 0.9                 # part 3
    eval_every: int = 50                  # part 3: steps between accuracy evaluations


QUICK = dict(delays=(5, 20), steps=300)


def add_arguments(parser) -> None:
    parser.add_argument("--delays", type=count, nargs="+", default=None, metavar="N",
                        help="copy-task delays of the sweep (default 5 10 30 60 100; quick 5 20)")
    parser.add_argument("--steps", type=count, default=None, help="training steps per run (default 1500; quick 300)")


def profile_models(p: Params) -> dict[str, dict]:
    """Part 1: name -> the keyword arguments of :func:`build`."""
    return {"rnn": dict(cell="rnn"),
            "rnn orthogonal": dict(cell="rnn", init="orthogonal"),
            "rnn scaled": dict(cell="rnn", init="orthogonal", gain=p.explode_gain),
            "lstm": dict(cell="lstm"),
            "gru": dict(cell="gru"),
            "spiking_rnn": dict(cell="spiking_rnn"),
            "spiking_rnn leaky": dict(cell="spiking_rnn", beta=p.leaky_beta),
            "spiking_lstm": dict(cell="spiking_lstm")}


def build(p: Params, seed: int, cell: str, init: str = "default", gain: float = 1.0,
          beta: float | None = None) -> SequenceModel:
    """A copy-task model (``symbols + 2`` inputs, ``symbols + 1`` classes per
    step), its recurrent weights multiplied by ``gain``; ``beta`` (default
    ``p.beta``) is the spiking RNN's membrane decay."""
    options = {"beta": p.beta if beta is None else beta} if cell == "spiking_rnn" else None
    model = SequenceModel(p.symbols + 2, p.hidden, p.symbols + 1, cell=cell, mode="many_to_many", init=init,
                          spiking_options=options, seed=seed)
    with torch.no_grad():
        for w in recurrent_weights(model.core):
            w.mul_(gain)
    return model


def batch_seed(seed: int, step: int) -> int:
    """Seed of the sequences of training step ``step`` (``EVAL_STEP``: the
    held-out ones) of a run seeded ``seed``: independent streams per seed."""
    return int(np.random.SeedSequence([seed, step - EVAL_STEP]).generate_state(1)[0])


def copy_batch(p: Params, n: int, delay: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (delay + 2 length, n, symbols + 2) and ``y`` (delay + 2 length, n)."""
    return copy_memory(n, delay=delay, length=p.length, symbols=p.symbols, seed=seed)


def gradient_profile(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """``|dL/dx_t|`` for t = 0..T-1 (shape ``(T,)``, batch mean), ``L`` the
    cross-entropy of the last step's output; on a float64 copy of ``model``
    unless it spikes (snnTorch's spikes are float32)."""
    twin = model if model.spiking else copy.deepcopy(model).double()
    dtype = next(twin.parameters()).dtype

    def last_output_loss(out: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out[-1], y[-1])

    return input_gradient_norms(twin, x.to(dtype), last_output_loss).double().numpy()


def decay_factor(norms: np.ndarray) -> float:
    """Per-step factor ``exp(-slope)`` of a least-squares line through
    ``log norms[t]`` against ``t``; the last step is left out (it reaches the
    output without a recurrent step), so are norms that underflowed to 0."""
    t = np.arange(len(norms) - 1)
    keep = norms[:-1] > 0
    slope = np.polyfit(t[keep], np.log(norms[:-1][keep]), 1)[0]
    return float(np.exp(-slope))


def spectral_radius(model: SequenceModel) -> float | None:
    """Largest ``|eigenvalue|`` of the square recurrent weight matrix of a
    one-layer RNN or spiking RNN; None for gated cells (one block per gate)."""
    (w,) = recurrent_weights(model.core)
    if w.shape[0] != w.shape[1]:
        return None
    return float(torch.linalg.eigvals(w.detach().double()).abs().max())


def recall(model: SequenceModel, x: torch.Tensor, y: torch.Tensor, length: int) -> tuple[float, float]:
    """Recall accuracy over the last ``length`` steps and cross-entropy per step over all steps."""
    with torch.no_grad():
        out = model(x)
    accuracy = float((out[-length:].argmax(-1) == y[-length:]).float().mean())
    return accuracy, float(nn.functional.cross_entropy(out.flatten(0, 1), y.flatten()))


def train(model: SequenceModel, p: Params, delay: int, optimizer: torch.optim.Optimizer, clip: float | None,
          seed: int, eval_every: int | None = None) -> dict:
    """``p.steps`` steps on fresh seeded copy batches, the gradient norm
    clipped to ``clip`` (None: not clipped). Returns per-step ``loss`` and
    ``grad_norm`` (before clipping) arrays of shape ``(steps,)`` and
    ``evals``, ``[(step, accuracy)]`` on the held-out sequences every
    ``eval_every`` steps and at the end (None: no evaluation)."""
    held_out = copy_batch(p, p.eval_batch, delay, batch_seed(seed, EVAL_STEP)) if eval_every else None
    params = [q for q in model.parameters() if q.requires_grad]
    losses, norms, evals = np.empty(p.steps), np.empty(p.steps), []
    for step in range(p.steps):
        x, y = copy_batch(p, p.batch, delay, batch_seed(seed, step))
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.get_total_norm([q.grad for q in params])
        if clip is not None:
            nn.utils.clip_grads_with_norm_(params, clip, norm)
        optimizer.step()
        losses[step], norms[step] = float(loss.detach()), float(norm)
        if eval_every and ((step + 1) % eval_every == 0 or step + 1 == p.steps):
            evals.append((step + 1, recall(model, *held_out, p.length)[0]))
    return {"loss": losses, "grad_norm": norms, "evals": evals}


def above(norms: np.ndarray, threshold: float) -> float:
    """Fraction of the gradient norms above ``threshold`` (non-finite ones count as above)."""
    return float(np.mean(~(norms <= threshold)))


def profiles_at_init(p: Params, seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Part 1: one row per model of :func:`profile_models`, and its profile."""
    x, y = copy_batch(p, p.profile_batch, p.profile_length - 2 * p.length, batch_seed(seed, EVAL_STEP))
    rows, profiles = [], {}
    for name, kwargs in profile_models(p).items():
        model = build(p, seed, **kwargs)
        norms = profiles[name] = gradient_profile(model, x, y)
        radius = spectral_radius(model)
        rows.append({"model": name, "cell": kwargs["cell"], "init": kwargs.get("init", "default"),
                     "gain": kwargs.get("gain", 1.0),
                     "beta": kwargs.get("beta", p.beta) if kwargs["cell"] == "spiking_rnn" else "",  # blank: none
                     "spectral radius": "" if radius is None else radius, "decay per step": decay_factor(norms),
                     "|dL/dx_0| / |dL/dx_T|": norms[0] / norms[-1]})
    return rows, profiles


def delay_sweep(p: Params, seed: int) -> list[dict]:
    """Part 2: one row per (cell, delay) after ``p.steps`` Adam steps."""
    rows = []
    for delay in p.delays:
        held_out = copy_batch(p, p.eval_batch, delay, batch_seed(seed, EVAL_STEP))
        probe = tuple(t[:, :p.profile_batch] for t in held_out)
        for cell in CELLS:
            model = build(p, seed, cell)
            before = gradient_profile(model, *probe)
            optimizer = torch.optim.Adam(model.parameters(), lr=p.adam_lr)
            history = train(model, p, delay, optimizer, p.clip, seed)
            after = gradient_profile(model, *probe)
            accuracy, loss = recall(model, *held_out, p.length)
            rows.append({"cell": cell, "delay": delay, "recall accuracy": accuracy,
                         "loss / baseline": loss / copy_memory_baseline(delay, p.length, p.symbols),
                         "ratio at init": before[0] / before[-1], "ratio trained": after[0] / after[-1],
                         "steps above threshold": above(history["grad_norm"], p.clip)})
    return rows


def clipping_and_init(p: Params, seed: int) -> tuple[list[dict], dict[str, dict]]:
    """Part 3: the tanh RNN at ``p.variant_delay``, one row and history per variant."""
    rows, histories = [], {}
    for name, (init, clipped) in VARIANTS.items():
        model = build(p, seed, "rnn", init=init)
        optimizer = torch.optim.SGD(model.parameters(), lr=p.sgd_lr, momentum=p.momentum)
        h = histories[name] = train(model, p, p.variant_delay, optimizer, p.clip if clipped else None, seed,
                                    p.eval_every)
        rows.append({"variant": name, "init": init, "clipping": p.clip if clipped else "none",
                     "recall accuracy": h["evals"][-1][1],
                     "best accuracy": max(a for _, a in h["evals"]),
                     "final loss": float(np.mean(h["loss"][-p.eval_every:])),
                     "steps above threshold": above(h["grad_norm"], p.clip),
                     "max grad norm": float(np.nanmax(h["grad_norm"]))})
    return rows, histories


def figure(p: Params, profiles: dict, sweep: list[dict], histories: dict) -> Figure:
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (ax_prof, ax_heat), (ax_acc, ax_norm) = fig.subplots(2, 2)
    for name, norms in profiles.items():
        ax_prof.plot(np.arange(len(norms)), norms, label=name)
    ax_prof.set_yscale("log")
    ax_prof.set_xlabel("input step t (loss on the last output, t = T)")
    ax_prof.set_ylabel(r"$|\partial L / \partial x_t|$")
    ax_prof.set_title("1. gradients through time at initialization")
    ax_prof.legend(frameon=False, fontsize=8)

    grid = np.array([[r["recall accuracy"] for r in sweep if r["cell"] == c] for c in CELLS])
    image = ax_heat.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        ax_heat.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k")
    ax_heat.set_xticks(range(len(p.delays)), [str(d) for d in p.delays])
    ax_heat.set_yticks(range(len(CELLS)), CELLS)
    ax_heat.set_xlabel("copy-task delay (steps)")
    ax_heat.set_title(f"2. recall accuracy after {p.steps} Adam steps (chance {1 / p.symbols:.2f})")
    fig.colorbar(image, ax=ax_heat)

    for i, (name, h) in enumerate(histories.items()):
        steps, accuracy = zip(*h["evals"])
        ax_acc.plot(steps, accuracy, color=f"C{i}", label=name)
        ax_norm.plot(np.arange(1, p.steps + 1), h["grad_norm"], color=f"C{i}", lw=0.6, alpha=0.8, label=name)
    ax_acc.axhline(1 / p.symbols, color="grey", ls=":", label="chance")
    ax_acc.set_xlabel("training step")
    ax_acc.set_ylabel("recall accuracy (held out)")
    ax_acc.set_title(f"3. tanh RNN at delay {p.variant_delay}: SGD, clipping, orthogonal init")
    ax_acc.legend(frameon=False, fontsize=8)
    ax_norm.axhline(p.clip, color="k", ls="--", label="clipping threshold")
    ax_norm.set_yscale("log")
    ax_norm.set_xlabel("training step")
    ax_norm.set_ylabel("gradient norm before clipping")
    ax_norm.set_title("3. gradient norm per step: explosions above the threshold")
    ax_norm.legend(frameon=False, fontsize=8)
    return fig


def metric_rows(profiles: dict, sweep: list[dict], histories: dict) -> list[dict]:
    """Long format for ``metrics.csv``: profiles, the sweep and the part-3 histories."""
    rows = [{"kind": "profile", "model": name, "step": t, "value": float(v)}
            for name, norms in profiles.items() for t, v in enumerate(norms)]
    rows += [{"kind": "sweep", "model": r["cell"], "delay": r["delay"], "value": r["recall accuracy"]}
             for r in sweep]
    for name, h in histories.items():
        rows += [{"kind": "loss", "model": name, "step": s + 1, "value": v} for s, v in enumerate(h["loss"])]
        rows += [{"kind": "grad_norm", "model": name, "step": s + 1, "value": v}
                 for s, v in enumerate(h["grad_norm"])]
        rows += [{"kind": "accuracy", "model": name, "step": s, "value": a} for s, a in h["evals"]]
    return rows


def run(record: RunRecord, *, quick: bool = False, seed: int = 0, delays: list[int] | None = None,
        steps: int | None = None) -> dict:
    """Run the three parts; returns the decay factor and gradient ratio per
    part-1 model, the recall accuracy per (cell, delay) and the part-3 rows."""
    overrides = {k: v for k, v in dict(delays=tuple(delays) if delays else None, steps=steps).items()
                 if v is not None}
    p = dataclasses.replace(Params(), **{**(QUICK if quick else {}), **overrides})
    record.write_config({**dataclasses.asdict(p), "quick": quick, "cells": CELLS, "variants": list(VARIANTS)}, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # small matrices: one thread is fastest and deterministic
    try:
        profile_table, profiles = profiles_at_init(p, seed)
        sweep = delay_sweep(p, seed)
        variant_table, histories = clipping_and_init(p, seed)
    finally:
        torch.set_num_threads(threads)
    tables = {f"1. Gradient profiles at initialization (T = {p.profile_length})": profile_table,
              f"2. Copy task, {p.steps} Adam steps (lr {p.adam_lr}, clip {p.clip}) per (cell, delay)": sweep,
              f"3. tanh RNN at delay {p.variant_delay}, {p.steps} SGD steps (lr {p.sgd_lr}, momentum "
              f"{p.momentum}), clipping threshold {p.clip}": variant_table}
    text = "\n\n".join(f"## {title}\n\n{markdown_table(rows)}" for title, rows in tables.items())
    print(text)
    record.write_metrics(metric_rows(profiles, sweep, histories))
    record.save_figure(figure(p, profiles, sweep, histories), "gradients_through_time")
    record.write_summary(
        "Vanishing and exploding gradients through time", profile_table,
        f"Table above: {next(iter(tables))}. Copy task: {p.length} symbols of {p.symbols} (chance recall {1 / p.symbols:.2f}), one-hot inputs, a "
        f"label per step; every model many-to-many with {p.hidden} units; seed {seed}. Decay per step: "
        f"exp(-slope) of log|dL/dx_t| against t; L the cross-entropy of the last output.\n\n"
        + "\n\n".join(f"## {title}\n\n{markdown_table(rows)}" for title, rows in list(tables.items())[1:])
        + "\n\n![gradients_through_time](gradients_through_time.png)")
    return {"profiles": {r["model"]: {"decay_per_step": r["decay per step"], "ratio": r["|dL/dx_0| / |dL/dx_T|"],
                                      "spectral_radius": r["spectral radius"]} for r in profile_table},
            "accuracy": {c: {r["delay"]: r["recall accuracy"] for r in sweep if r["cell"] == c} for c in CELLS},
            "sweep": sweep, "variants": {r["variant"]: {k: v for k, v in r.items() if k != "variant"}
                                         for r in variant_table},
            "chance": 1 / p.symbols, "delays": list(p.delays), "steps": p.steps}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
