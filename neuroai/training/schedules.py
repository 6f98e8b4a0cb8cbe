"""Learning-rate schedules, as thin validated wrappers of
``torch.optim.lr_scheduler``, and snapshot ensembling.

==========================  ====================================  =========
name                        learning rate at step ``t``           stepped
==========================  ====================================  =========
``step``                    ``lr0 * gamma ** (t // step_size)``   per epoch
``cosine``                  ``eta_min + (lr0 - eta_min) *          per epoch
                            (1 + cos(pi t / t_max)) / 2``
``cosine_warm_restarts``    cosine over each cycle; cycle ``i``   per epoch
                            lasts ``t_0 * t_mult ** i`` steps
``one_cycle``               warm up from ``max_lr / div_factor``  per batch
                            to ``max_lr``, then anneal to
                            ``max_lr / div_factor /
                            final_div_factor`` (cosine)
==========================  ====================================  =========

The :class:`~neuroai.training.Trainer` steps ``OneCycleLR`` after every
batch and the others after every epoch (override with its
``scheduler_interval``).

Snapshot ensembling (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M
for free"): with cosine warm restarts, the model at the end of each cycle
sits in a different minimum; :class:`SnapshotEnsemble` keeps those
snapshots and averages their predictions.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch.optim import lr_scheduler as _sched

from .. import validation as _v
from .callbacks import Callback


def _optimizer(owner: str, optimizer) -> torch.optim.Optimizer:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{owner}: parameter 'optimizer' must be a torch.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")
    return optimizer


def step(optimizer: torch.optim.Optimizer, step_size: int, gamma: float = 0.1) -> _sched.StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps."""
    _optimizer("step schedule", optimizer)
    step_size = _v.integer("step schedule", "step_size", step_size, minimum=1)
    gamma = _v.real("step schedule", "gamma", gamma, positive=True)
    return _sched.StepLR(optimizer, step_size=step_size, gamma=gamma)


def cosine(optimizer: torch.optim.Optimizer, t_max: int, eta_min: float = 0.0) -> _sched.CosineAnnealingLR:
    """Cosine annealing from the initial rate to ``eta_min`` over ``t_max`` steps."""
    _optimizer("cosine schedule", optimizer)
    t_max = _v.integer("cosine schedule", "t_max", t_max, minimum=1)
    eta_min = _v.real("cosine schedule", "eta_min", eta_min, nonnegative=True)
    return _sched.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=eta_min)


def cosine_warm_restarts(optimizer: torch.optim.Optimizer, t_0: int, t_mult: int = 1,
                         eta_min: float = 0.0) -> _sched.CosineAnnealingWarmRestarts:
    """Cosine annealing restarted every cycle (SGDR, Loshchilov & Hutter
    2017); cycle ``i`` lasts ``t_0 * t_mult ** i`` steps."""
    _optimizer("cosine_warm_restarts schedule", optimizer)
    t_0 = _v.integer("cosine_warm_restarts schedule", "t_0", t_0, minimum=1)
    t_mult = _v.integer("cosine_warm_restarts schedule", "t_mult", t_mult, minimum=1)
    eta_min = _v.real("cosine_warm_restarts schedule", "eta_min", eta_min, nonnegative=True)
    return _sched.CosineAnnealingWarmRestarts(optimizer, T_0=t_0, T_mult=t_mult, eta_min=eta_min)


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e4,
              anneal_strategy: str = "cos") -> _sched.OneCycleLR:
    """The one-cycle policy (Smith & Topin 2019) over ``total_steps`` batches
    (``epochs * len(train_loader)``). Momentum cycling is off so that any
    optimizer works."""
    owner = "one_cycle schedule"
    _optimizer(owner, optimizer)
    max_lr = _v.real(owner, "max_lr", max_lr, positive=True)
    total_steps = _v.integer(owner, "total_steps", total_steps, minimum=2)
    pct_start = _v.real(owner, "pct_start", pct_start, positive=True)
    if pct_start >= 1:
        raise ValueError(f"{owner}: parameter 'pct_start' must be in (0, 1), got {pct_start!r}")
    if float(pct_start * total_steps) == 1.0:  # (torch's OneCycleLR would divide 0 by 0 at the first step)
        raise ValueError(f"{owner}: parameter 'pct_start' must not make the warm-up exactly one step "
                         f"(pct_start * total_steps = 1), got pct_start={pct_start!r} with total_steps={total_steps}")
    div_factor = _v.real(owner, "div_factor", div_factor, positive=True)
    final_div_factor = _v.real(owner, "final_div_factor", final_div_factor, positive=True)
    anneal_strategy = _v.choice(owner, "anneal_strategy", anneal_strategy, ("cos", "linear"))
    return _sched.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                             div_factor=div_factor, final_div_factor=final_div_factor,
                             anneal_strategy=anneal_strategy, cycle_momentum=False)


SCHEDULES: dict[str, Callable] = {"step": step, "cosine": cosine, "cosine_warm_restarts": cosine_warm_restarts,
                                  "one_cycle": one_cycle}


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, **kwargs):
    """The schedule called ``name`` (a key of :data:`SCHEDULES`)."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"make_scheduler: unknown schedule {name!r}; known schedules: {sorted(SCHEDULES)}")
    _v.keyword_options(f"make_scheduler({name!r})", kwargs, SCHEDULES[name], taker="the schedule",
                       skip=("optimizer",))
    return SCHEDULES[name](optimizer, **kwargs)


def cycle_ends(t_0: int, t_mult: int, until: int) -> list[int]:
    """Epochs (from 1) that end a warm-restart cycle, up to ``until``."""
    ends, length, end = [], t_0, t_0
    while end <= until:
        ends.append(end)
        length *= t_mult
        end += length
    return ends


class SnapshotEnsemble(Callback):
    """Keep a copy of the model at the end of each cosine-warm-restart cycle
    (epochs ``t_0``, ``t_0 + t_0 t_mult``, ...; pair it with
    ``cosine_warm_restarts(optimizer, t_0, t_mult)`` stepped per epoch) and
    average the predictions of the last ``max_snapshots`` of them (all if
    None).

    :meth:`predict` returns the mean over snapshots of ``transform(model(x))``;
    ``transform="softmax"`` (default) averages class probabilities, ``None``
    averages raw outputs, or give any callable.
    """

    def __init__(self, t_0: int, t_mult: int = 1, max_snapshots: int | None = None,
                 transform: str | Callable | None = "softmax"):
        self.t_0 = _v.integer("SnapshotEnsemble", "t_0", t_0, minimum=1)
        self.t_mult = _v.integer("SnapshotEnsemble", "t_mult", t_mult, minimum=1)
        self.max_snapshots = (None if max_snapshots is None
                              else _v.integer("SnapshotEnsemble", "max_snapshots", max_snapshots, minimum=1))
        if isinstance(transform, str) and transform == "softmax":
            transform = lambda out: torch.softmax(out, dim=-1)  # noqa: E731
        elif transform is not None and not callable(transform):
            raise ValueError(f"SnapshotEnsemble: parameter 'transform' must be 'softmax', None or a callable, "
                             f"got {transform!r}")
        self.transform = transform
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.snapshot_epochs: list[int] = []
        self._model: torch.nn.Module | None = None

    def on_train_start(self, trainer):
        """Remember ``trainer.model`` as the default model of :meth:`predict`."""
        self._model = trainer.model

    def on_epoch_end(self, trainer, epoch, logs):
        """At the end of a cycle, store a copy of the model's ``state_dict()`` (dropping the oldest beyond
        ``max_snapshots``)."""
        if epoch in cycle_ends(self.t_0, self.t_mult, epoch):
            self.snapshots.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
            self.snapshot_epochs.append(epoch)
            if self.max_snapshots is not None and len(self.snapshots) > self.max_snapshots:
                del self.snapshots[0], self.snapshot_epochs[0]

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, model: torch.nn.Module | None = None) -> torch.Tensor:
        """Mean prediction of the snapshots on ``inputs`` (evaluation mode),
        computed with a copy of ``model`` (default: the trained model, which
        is left untouched)."""
        model = model if model is not None else self._model
        if model is None or not self.snapshots:
            raise RuntimeError("SnapshotEnsemble: no snapshots yet; train for at least one full cycle "
                               f"(t_0={self.t_0} epochs) first")
        owner = "SnapshotEnsemble.predict"
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{owner}: parameter 'model' must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"{owner}: parameter 'inputs' must be a tensor, got {type(inputs).__name__}")
        work = copy.deepcopy(model).eval()
        param = next(work.parameters(), None)
        if param is not None:
            inputs = inputs.to(param.device)
        total = None
        for k, snap in enumerate(self.snapshots):
            work.load_state_dict(snap)
            try:
                out = work(inputs)
            except (RuntimeError, TypeError, IndexError) as err:
                if k > 0 or isinstance(err, torch.OutOfMemoryError):
                    raise
                raise ValueError(f"{owner}: parameter 'inputs' (shape {tuple(inputs.shape)}) does not fit the "
                                 f"model: {_v._reason(err)}") from err
            out = self.transform(out) if self.transform is not None else out
            total = out if total is None else total + out
        return total / len(self.snapshots)

    def state_dict(self):
        """The snapshots and the epochs they were taken at."""
        return {"snapshots": self.snapshots, "snapshot_epochs": self.snapshot_epochs}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.snapshots, self.snapshot_epochs = list(state["snapshots"]), list(state["snapshot_epochs"])
