"""Callbacks: code the :class:`~neuroai.training.Trainer` calls at fixed
points of training.

Hooks, in the order they are called::

    on_train_start(trainer)
      on_epoch_start(trainer, epoch)                    # epoch counts from 1
        on_batch_start(trainer, batch)                  # batch index in the epoch, from 0
          on_before_backward(trainer, loss)             # loss: 0-d tensor, before backward()
          on_after_backward(trainer)                    # gradients ready, before optimizer.step()
        on_batch_end(trainer, batch, logs)              # logs: {"loss": float}
      on_epoch_end(trainer, epoch, logs)                # logs: the epoch's history row
    on_train_end(trainer)

Callbacks run in ascending ``order`` (ties keep the order given): the
divergence guard first, loggers late, checkpoints last, so a checkpoint holds
every other callback's state for the epoch. A callback with state that a
resumed run needs returns it from ``state_dict()`` (tensors and plain
containers only: checkpoints are read with ``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import math

import torch

from .. import validation as _v
from ..backends import NonFiniteState
from .metrics import is_finite_number


class Callback:
    """Base class: every hook does nothing."""

    order: int = 0

    def on_train_start(self, trainer) -> None:
        """Called once at the start of :meth:`~neuroai.training.Trainer.fit`, after seeding and any resume."""

    def on_epoch_start(self, trainer, epoch: int) -> None:
        """Called before the first batch of epoch ``epoch`` (from 1)."""

    def on_batch_start(self, trainer, batch: int) -> None:
        """Called before training batch ``batch`` (index in the epoch, from 0)."""

    def on_before_backward(self, trainer, loss: torch.Tensor) -> None:
        """Called with the batch's loss (0-d tensor) before ``loss.backward()``; with an optimizer that
        needs a closure (LBFGS), at every evaluation of the closure."""

    def on_after_backward(self, trainer) -> None:
        """Called once the gradients are ready, before the optimizer step (with a closure: at every
        evaluation of it)."""

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        """Called after the optimizer step of batch ``batch``; ``logs``: ``{"loss": float}``, the batch's loss
        (with a closure, that of its first evaluation)."""

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Called after epoch ``epoch`` (from 1) with its history row ``logs``, already appended to
        ``trainer.history``; set ``trainer.stop_training`` to end training after it."""

    def on_train_end(self, trainer) -> None:
        """Called once when training ends, after the last epoch or an early stop (not after an exception)."""

    def state_dict(self) -> dict:
        """State a resumed run needs (saved in checkpoints)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


def _clone_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class MetricNotLogged(KeyError, ValueError):
    """A callback monitors a metric the Trainer does not log (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves on the best so far when ``value < best - min_delta``
    (``mode="min"``) or ``value > best + min_delta`` (``mode="max"``).
    Training stops at the ``patience``-th epoch in a row without improvement
    (``patience`` 0 or 1: at the first one). With ``restore_best_weights`` the
    model's parameters and buffers are set back to those of the best epoch
    when training ends, whether it stopped early or ran all its epochs.
    ``best_epoch``, ``best`` and ``stopped_epoch`` (0 if it did not stop)
    report what happened.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min", restore_best_weights: bool = True):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"EarlyStopping: parameter 'monitor' must be a metric name such as 'val_loss', "
                            f"got {monitor!r}")
        self.monitor = monitor
        self.patience = _v.integer("EarlyStopping", "patience", patience, minimum=0)
        self.min_delta = _v.real("EarlyStopping", "min_delta", min_delta, nonnegative=True)
        self.mode = _v.choice("EarlyStopping", "mode", mode, ("min", "max"))
        self.restore_best_weights = _v.flag("EarlyStopping", "restore_best_weights", restore_best_weights)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, epoch, logs):
        """Compare ``logs[monitor]`` with the best so far (keeping the weights of a new best) and stop
        training once it has not improved for ``patience`` epochs; ``KeyError`` if it is not logged."""
        if self.monitor not in logs:
            raise MetricNotLogged(f"EarlyStopping: metric {self.monitor!r} is not logged; parameter 'monitor' must "
                                  f"be one of the logged metrics {sorted(logs)} (val_* metrics need a val_loader)")
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = _clone_state(trainer.model)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                trainer.stop_training = True

    def on_train_end(self, trainer):
        """With ``restore_best_weights``, load the best epoch's parameters and buffers into the model."""
        if self.restore_best_weights and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self):
        """The best value and epoch, the epochs waited, ``stopped_epoch`` and the best weights (or None)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self.best_state}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch, self.best_state = state["stopped_epoch"], state["best_state"]


class GradientClipping(Callback):
    """Clip gradients after ``backward()`` and before the optimizer step:
    by their total ``norm_type``-norm (``max_norm``, with
    :func:`torch.nn.utils.clip_grad_norm_`) or elementwise to
    ``[-max_value, max_value]`` (:func:`torch.nn.utils.clip_grad_value_`).
    Give exactly one of ``max_norm`` and ``max_value``. ``last_norm`` is the
    total norm before clipping of the last step (norm mode only)."""

    def __init__(self, max_norm: float | None = None, max_value: float | None = None, norm_type: float = 2.0):
        if (max_norm is None) == (max_value is None):
            raise ValueError("GradientClipping: give exactly one of 'max_norm' (clip by norm) and "
                             f"'max_value' (clip by value), got max_norm={max_norm!r}, max_value={max_value!r}")
        self.max_norm = None if max_norm is None else _v.real("GradientClipping", "max_norm", max_norm, positive=True)
        self.max_value = (None if max_value is None
                          else _v.real("GradientClipping", "max_value", max_value, positive=True))
        if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or not (
                norm_type == math.inf or (math.isfinite(norm_type) and norm_type > 0)):
            raise ValueError(f"GradientClipping: parameter 'norm_type' must be > 0 or inf, got {norm_type!r}")
        norm_type = float(norm_type)
        self.norm_type = norm_type
        self.last_norm: float | None = None

    def on_after_backward(self, trainer):
        """Clip the model's gradients in place (parameters without a gradient are skipped), recording
        ``last_norm`` in norm mode."""
        params = [p for p in trainer.model.parameters() if p.grad is not None]
        if not params:
            return
        if self.max_norm is not None:
            self.last_norm = float(torch.nn.utils.clip_grad_norm_(params, self.max_norm, norm_type=self.norm_type))
        else:
            torch.nn.utils.clip_grad_value_(params, self.max_value)


class TrainingDiverged(NonFiniteState, RuntimeError):
    """A non-finite loss (or parameter, or epoch metric) during training.
    ``epoch`` (from 1), ``step`` (batch in the epoch, from 0; None for an
    epoch-end check) and ``global_step`` say where. A
    :class:`~neuroai.NonFiniteState` (as a simulation that diverges raises) and a ``RuntimeError``."""

    def __init__(self, message: str, epoch: int, step: int | None, global_step: int):
        super().__init__(message)
        self.epoch, self.step, self.global_step = epoch, step, global_step


class DivergenceGuard(Callback):
    """Stop training with :class:`TrainingDiverged` at the first non-finite
    loss, before ``backward()`` and the optimizer step, so the parameters are
    left as they were after the last good step and no later checkpoint is
    written: the last checkpoint on disk stays the last good one.

    At each epoch's end it also checks every logged number (e.g. ``val_loss``)
    and, with ``check_parameters``, every parameter; it runs before the other
    callbacks, so a diverged epoch is never checkpointed.
    """

    order = -100

    def __init__(self, check_parameters: bool = True):
        self.check_parameters = _v.flag("DivergenceGuard", "check_parameters", check_parameters)

    def on_before_backward(self, trainer, loss):
        """Raise :class:`TrainingDiverged` if ``loss`` has a non-finite element."""
        if not bool(torch.isfinite(loss.detach()).all()):
            raise TrainingDiverged(
                f"DivergenceGuard: training diverged: non-finite loss ({float(loss.detach().reshape(-1)[0])}, "
                f"NaN or infinite) at epoch {trainer.epoch}, step {trainer.batch} (global step "
                f"{trainer.global_step}); no step was taken with it and no checkpoint was written for epoch "
                f"{trainer.epoch}", trainer.epoch, trainer.batch, trainer.global_step)

    def on_epoch_end(self, trainer, epoch, logs):
        """Raise :class:`TrainingDiverged` if a logged float or tensor is non-finite, or (with
        ``check_parameters``) a parameter of the model is."""
        bad = [k for k, v in logs.items() if isinstance(v, (float, torch.Tensor)) and not is_finite_number(v)]
        if self.check_parameters:
            bad += [f"parameter {n}" for n, p in trainer.model.named_parameters()
                    if not bool(torch.isfinite(p.detach()).all())]
        if bad:
            raise TrainingDiverged(
                f"DivergenceGuard: training diverged: non-finite {', '.join(bad)} (NaN or infinite) at the end of "
                f"epoch {epoch} (global step {trainer.global_step}); no checkpoint was written for epoch {epoch}",
                epoch, None, trainer.global_step)
