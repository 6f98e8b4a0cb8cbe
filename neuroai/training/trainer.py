"""Trainer: the training loop for any ``nn.Module``, loss and optimizer."""
from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable, Sequence
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from torch.optim import lr_scheduler as _sched
from tqdm.auto import tqdm

from .. import validation as _v
from ..optim.protocol import step_protocol, take_step
from . import distributed
from .callbacks import Callback, DivergenceGuard
from .checkpoint import get_rng_state, load_checkpoint, missing_keys, set_rng_state
from .metrics import generalization_gap, resolve_metrics

CHECKPOINT_FORMAT = 1
#: The keys of :meth:`Trainer.state_dict`, which a Trainer checkpoint must hold.
CHECKPOINT_KEYS = ("format", "epoch", "global_step", "model", "optimizer", "scheduler", "history", "callbacks", "rng")


def _loader_generators(*loaders) -> list[torch.Generator]:
    """The torch.Generators a loader draws its shuffling from (the
    DataLoader's ``generator`` and its sampler's, when set), without
    duplicates."""
    found: list[torch.Generator] = []
    for loader in loaders:
        if loader is None:
            continue
        candidates = [getattr(loader, "generator", None)]
        for attr in ("sampler", "batch_sampler"):
            sampler = getattr(loader, attr, None)
            candidates.append(getattr(sampler, "generator", None))
            candidates.append(getattr(getattr(sampler, "sampler", None), "generator", None))
        for g in candidates:
            if isinstance(g, torch.Generator) and not any(g is f for f in found):
                found.append(g)
    return found


def _batch_size(targets) -> int:
    if isinstance(targets, torch.Tensor):
        return int(targets.shape[0]) if targets.dim() > 0 else 1
    return len(targets) if hasattr(targets, "__len__") else 1


def _shape(value) -> str:
    """A short description of a batch's inputs or targets, for error messages."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({value.dtype})"
    return f"a {type(value).__name__}"


def _loader(owner: str, name: str, loader, optional: bool = False):
    """``loader``, which must be a re-iterable of batches (a DataLoader, a list of pairs), or None if optional."""
    if loader is None and optional:
        return None
    if isinstance(loader, (str, bytes, dict, torch.Tensor)) or not hasattr(loader, "__iter__"):
        raise TypeError(f"{owner}: parameter '{name}' must be an iterable of (inputs, targets) batches"
                        f"{' or None' if optional else ''}, got {type(loader).__name__}")
    return loader


class Trainer:
    """Train ``model`` with ``loss_fn(output, target)`` and ``optimizer``.

    Parameters
    ----------
    model, loss_fn, optimizer
        Any ``nn.Module``; a loss with mean reduction (e.g.
        ``nn.CrossEntropyLoss()``); any ``torch.optim.Optimizer`` over the
        model's parameters, stepped by its protocol
        (:mod:`neuroai.optim.protocol`): a closure for L-BFGS, line searches and
        SAM, the gradient first where the method perturbs from it,
        ``backward(create_graph=True)`` for Hessian-based methods.
    scheduler
        A ``torch.optim.lr_scheduler`` (see :mod:`neuroai.training.schedules`),
        stepped after every batch (``scheduler_interval="batch"``, the default
        for ``OneCycleLR``) or every epoch (the default otherwise);
        ``ReduceLROnPlateau`` is stepped with ``val_loss`` (``loss`` without
        validation data).
    metrics
        Names in :data:`~neuroai.training.metrics.METRICS` (``"accuracy"``) or
        callables ``metric(output, target)``, logged on the training data (as
        a running mean over the epoch, like the loss) and on the validation
        data.
    callbacks
        :class:`~neuroai.training.callbacks.Callback` instances.
    device
        ``"cpu"``, ``"cuda"``, a ``torch.device``, or None (CUDA if available).
    seed
        When given, each :meth:`fit` starts by seeding torch (CPU and CUDA),
        NumPy, Python's ``random`` and the data loaders' own generators with it.
    progress
        Show a tqdm progress bar over the batches of the run (on rank 0
        only, under ``torch.distributed``).
    divergence_guard
        Stop at the first non-finite loss, logged value or parameter (a
        :class:`~neuroai.training.callbacks.DivergenceGuard` is added unless
        ``callbacks`` has one); False trains on whatever the numbers become.

    Notes
    -----
    Under a ``torch.distributed`` process group (see
    :mod:`neuroai.training.distributed`) the model is wrapped in
    ``DistributedDataParallel`` for training, and the logged loss and metrics
    are averaged over all processes' samples; ``model`` stays the plain
    module (what callbacks see and checkpoints hold).

    Batches are ``(inputs, targets)`` pairs. :meth:`fit` returns the history:
    one dict per epoch with ``epoch`` (from 1), ``lr`` (of the first parameter
    group, at the start of the epoch), ``loss`` and each metric on the
    training data, ``val_loss``/``val_<metric>`` and the generalization gaps
    ``gap_loss``/``gap_<metric>`` (validation minus training) when there is
    validation data.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, *,
                 scheduler=None, scheduler_interval: str | None = None, metrics=None,
                 callbacks: Sequence[Callback] = (), device=None, seed: int | None = None,
                 progress: bool = True, divergence_guard: bool = True):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"Trainer: parameter 'model' must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError("Trainer: parameter 'loss_fn' must be callable (output, target) -> loss, "
                            f"got {loss_fn!r}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"Trainer: parameter 'optimizer' must be a torch.optim.Optimizer, "
                            f"got {type(optimizer).__name__}")
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise TypeError(f"Trainer: parameter 'scheduler' must be a torch lr scheduler, got {scheduler!r}")
        if scheduler_interval is None:
            scheduler_interval = "batch" if isinstance(scheduler, _sched.OneCycleLR) else "epoch"
        self.scheduler_interval = _v.choice("Trainer", "scheduler_interval", scheduler_interval, ("epoch", "batch"))
        own = {id(p) for p in model.parameters()}
        if own and not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
            raise ValueError("Trainer: parameter 'optimizer' holds none of the model's parameters, so training "
                             "would change nothing; it must be built over model.parameters()")
        progress = _v.flag("Trainer", "progress", progress)
        divergence_guard = _v.flag("Trainer", "divergence_guard", divergence_guard)
        if isinstance(callbacks, (str, bytes, dict, Callback)) or not hasattr(callbacks, "__iter__"):
            raise TypeError(f"Trainer: parameter 'callbacks' must be a list of neuroai.training.Callback, "
                            f"got {callbacks!r}")
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: every callback must be a neuroai.training.Callback, got {cb!r}")
        if divergence_guard and not any(isinstance(cb, DivergenceGuard) for cb in callbacks):
            callbacks.append(DivergenceGuard())
        self.seed = None if seed is None else _v.seed("Trainer", seed)
        self.device = _v.torch_device("Trainer", device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.metrics = resolve_metrics(metrics)
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)  # stable: ties keep the given order
        self.progress = progress
        self.protocol = step_protocol(optimizer)  # how step is driven: closure, gradients first, graph
        self.train_module = self.model  # what the training step calls (DDP-wrapped under torch.distributed)
        if distributed.active():
            if self.protocol.requires_closure:
                raise ValueError(f"Trainer: {type(optimizer).__name__} needs a closure and decides from the "
                                 f"local loss, so it cannot run data-parallel; use a first-order optimizer "
                                 f"under torch.distributed")
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(self.model, device_ids=ids)
        self.history: list[dict] = []
        self.epoch = 0          # current (during fit) or last completed epoch, from 1
        self.epochs = 0         # the epoch fit runs up to
        self.batch = 0          # batch index within the epoch, from 0
        self.global_step = 0    # optimizer steps taken so far
        self.stop_training = False
        self._train_loader = None

    # ------------------------------------------------------------------ hooks
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _to_device(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(self.device, non_blocking=True)
        if isinstance(value, (list, tuple)):
            return type(value)(self._to_device(v) for v in value)
        if isinstance(value, dict):
            return {k: self._to_device(v) for k, v in value.items()}
        return value

    def _split(self, batch):
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            length = f" of length {len(batch)}" if hasattr(batch, "__len__") else ""
            raise ValueError(f"Trainer: each batch must be an (inputs, targets) pair, got "
                             f"{type(batch).__name__}{length}")
        return self._to_device(batch[0]), self._to_device(batch[1])

    # ------------------------------------------------------------------ state
    def _callback_keys(self) -> list[str]:
        """``ClassName:k`` for the k-th callback of each class, so checkpoints
        match callbacks by kind, whatever other callbacks are present."""
        seen: dict[str, int] = {}
        keys = []
        for cb in self.callbacks:
            name = type(cb).__name__
            keys.append(f"{name}:{seen.get(name, 0)}")
            seen[name] = seen.get(name, 0) + 1
        return keys

    def seed_everything(self, seed: int, loaders: Iterable = ()) -> None:
        """Seed torch (CPU, CUDA), NumPy, Python ``random`` and the loaders'
        generators with ``seed``."""
        seed = _v.seed("Trainer", seed)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        for g in _loader_generators(*loaders):
            g.manual_seed(seed)

    def state_dict(self) -> dict:
        """Everything a resumed run needs: model, optimizer, scheduler,
        epoch, step, history, callback states and RNG states."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": [dict(row) for row in self.history],
            "callbacks": {key: cb.state_dict() for key, cb in zip(self._callback_keys(), self.callbacks)},
            "rng": get_rng_state(_loader_generators(self._train_loader)),
        }

    def load_state_dict(self, state: dict, train_loader=None) -> None:
        """Restore a :meth:`state_dict` (``train_loader``: the loader whose
        generators' states it holds). A state without the keys of
        :meth:`state_dict` is a ``ValueError`` naming the missing ones."""
        problem = missing_keys(state, CHECKPOINT_KEYS)
        if problem:
            raise ValueError(f"Trainer.load_state_dict: 'state' is not a Trainer state: {problem}")
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"Trainer: checkpoint format {state.get('format')!r} is not {CHECKPOINT_FORMAT}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError("Trainer: the checkpoint was written " + ("without" if state["scheduler"] is None
                             else "with") + " a scheduler, but this trainer has " +
                             ("one" if self.scheduler is not None else "none"))
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for key, cb in zip(self._callback_keys(), self.callbacks):
            if key in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][key])
            elif cb.state_dict():
                warnings.warn(f"Trainer: the checkpoint holds no state for callback {key}; it starts afresh",
                              stacklevel=3)
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.history = [dict(row) for row in state["history"]]
        set_rng_state(state["rng"], _loader_generators(train_loader))

    def load_checkpoint(self, path: str | Path, train_loader=None) -> None:
        """Restore the state saved by :class:`~neuroai.training.Checkpoint` at ``path``.

        Raises what :func:`~neuroai.training.load_checkpoint` raises (``TypeError``: not a
        path; ``FileNotFoundError``: no such file; ``ValueError`` naming the file: not a
        neuroai checkpoint, objects other than tensors refused unread, or a checkpoint
        without the Trainer's keys, which are named), and ``ValueError`` for a checkpoint
        of another format, model or optimizer setup."""
        self._restore(path, train_loader, "Trainer.load_checkpoint", "path")

    def _restore(self, path, train_loader, owner: str, name: str) -> None:
        self.load_state_dict(load_checkpoint(path, CHECKPOINT_KEYS, owner=owner, name=name), train_loader)

    # ------------------------------------------------------------------ loops
    def _loss(self, module, inputs, targets, where: str):
        """``module(inputs)`` and its scalar loss. A batch the model or the loss cannot take (torch's
        RuntimeError, TypeError or IndexError) is a ValueError naming the batch (``where``) and its shapes."""
        try:
            output = module(inputs)
            loss = self.loss_fn(output, targets)
        except (RuntimeError, TypeError, IndexError) as err:
            if isinstance(err, torch.OutOfMemoryError):
                raise
            raise ValueError(f"Trainer: {where} does not fit the model and loss_fn (inputs: {_shape(inputs)}; "
                             f"targets: {_shape(targets)}): {_v._reason(err)}") from err
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("Trainer: loss_fn must return a scalar tensor (use mean reduction), got "
                             f"{loss if not isinstance(loss, torch.Tensor) else tuple(loss.shape)!r}")
        return output, loss.reshape(())

    def _metric(self, name: str, metric, output, targets) -> torch.Tensor:
        """The value of one metric on a batch, which must be a real number or a one-element tensor."""
        value = metric(output, targets)
        if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
            value = value.item()
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not (value.is_complex()
                                                                          or value.dtype == torch.bool):
            return value.detach().reshape(()).to(device=self.device, dtype=torch.float64)
        if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
            return torch.tensor(float(value), dtype=torch.float64, device=self.device)
        raise ValueError(f"Trainer: metric {name!r} must return a real number or a one-element tensor, "
                         f"got {value!r}")

    def _train_step(self, batch):
        inputs, targets = self._split(batch)
        first: dict = {}

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            output, loss = self._loss(self.train_module, inputs, targets,
                                      f"training batch {self.batch} of epoch {self.epoch}")
            self._call("on_before_backward", loss)
            loss.backward(create_graph=self.protocol.create_graph)
            self._call("on_after_backward")
            if not first:
                first["output"], first["loss"] = output.detach(), loss.detach()
            return loss

        take_step(self.optimizer, closure, self.protocol)
        self.global_step += 1
        if self.scheduler is not None and self.scheduler_interval == "batch":
            self.scheduler.step()
        return first["output"], first["loss"], targets

    def fit(self, train_loader, val_loader=None, epochs: int = 1, resume: str | Path | None = None) -> list[dict]:
        """Train up to epoch ``epochs`` (a total: a run resumed from a
        checkpoint of epoch k trains epochs k+1 .. ``epochs``) and return the
        history, one dict per epoch. ``resume``: a checkpoint file written by
        :class:`~neuroai.training.Checkpoint`, from which model, optimizer,
        scheduler, callbacks, history and RNG states are restored, so the run
        continues exactly as if it had never stopped; a ``resume`` that is not
        a path, names no file or is not such a checkpoint is an error, as in
        :meth:`load_checkpoint`."""
        epochs = _v.integer("Trainer.fit", "epochs", epochs, minimum=0)
        if resume is not None:
            _v.file_path("Trainer.fit", "resume", resume)
        _loader("Trainer.fit", "train_loader", train_loader)
        _loader("Trainer.fit", "val_loader", val_loader, optional=True)
        self._train_loader = train_loader
        if self.seed is not None:
            self.seed_everything(self.seed, (train_loader, val_loader))
        if resume is not None:
            self._restore(resume, train_loader, "Trainer.fit", "resume")
        else:
            self.history, self.epoch, self.global_step = [], 0, 0
        self.epochs = epochs
        self.stop_training = False
        try:
            n_batches = len(train_loader)
        except TypeError:
            n_batches = None
        total = None if n_batches is None else n_batches * max(epochs - self.epoch, 0)
        bar = tqdm(total=total, disable=not (self.progress and distributed.is_main()), unit="batch",
                   dynamic_ncols=True)
        try:
            self._call("on_train_start")
            for epoch in range(self.epoch + 1, epochs + 1):
                self.epoch = epoch
                bar.set_description(f"epoch {epoch}/{epochs}")
                self._call("on_epoch_start", epoch)
                if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
                    train_loader.sampler.set_epoch(epoch)  # a DistributedSampler's permutation for this epoch
                logs = {"epoch": epoch, "lr": float(self.optimizer.param_groups[0]["lr"])}
                logs.update(self._train_epoch(train_loader, bar))
                if val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                    logs.update(generalization_gap(logs))
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    if isinstance(self.scheduler, _sched.ReduceLROnPlateau):
                        self.scheduler.step(logs.get("val_loss", logs["loss"]))
                    else:
                        self.scheduler.step()
                self.history.append(logs)
                self._call("on_epoch_end", epoch, logs)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")
                                 or k in self.metrics or k[4:] in self.metrics})
                if self.stop_training:
                    break
            self._call("on_train_end")
        finally:
            bar.close()
        return self.history

    def _train_epoch(self, loader, bar) -> dict:
        self.model.train()
        sums = {"loss": torch.zeros((), dtype=torch.float64, device=self.device)}
        sums.update({name: torch.zeros((), dtype=torch.float64, device=self.device) for name in self.metrics})
        count = 0
        for b, batch in enumerate(loader):
            self.batch = b
            self._call("on_batch_start", b)
            output, loss, targets = self._train_step(batch)
            n = _batch_size(targets)
            count += n
            sums["loss"] += loss.to(torch.float64) * n
            with torch.no_grad():
                for name, metric in self.metrics.items():
                    sums[name] += self._metric(name, metric, output, targets) * n
            self._call("on_batch_end", b, {"loss": float(loss)})
            bar.update(1)
        if count == 0:
            raise ValueError("Trainer.fit: the training loader yielded no batches; it must yield at least one "
                             "(inputs, targets) pair")
        return _global_means(sums, count, self.device)

    @torch.no_grad()
    def evaluate(self, loader) -> dict:
        """Mean loss and metrics over ``loader`` in evaluation mode (the
        model's previous mode is restored)."""
        _loader("Trainer.evaluate", "loader", loader)
        was_training = self.model.training
        self.model.eval()
        try:
            sums = {"loss": 0.0, **{name: 0.0 for name in self.metrics}}
            sums = {k: torch.zeros((), dtype=torch.float64, device=self.device) for k in sums}
            count = 0
            for k, batch in enumerate(loader):
                inputs, targets = self._split(batch)
                output, loss = self._loss(self.model, inputs, targets, f"evaluation batch {k}")
                n = _batch_size(targets)
                count += n
                sums["loss"] += loss.to(torch.float64) * n
                for name, metric in self.metrics.items():
                    sums[name] += self._metric(name, metric, output, targets) * n
            if count == 0:
                raise ValueError("Trainer.evaluate: the loader yielded no batches; it must yield at least one "
                                 "(inputs, targets) pair")
            return _global_means(sums, count, self.device)
        finally:
            self.model.train(was_training)


def _global_means(sums: dict[str, torch.Tensor], count: int, device) -> dict[str, float]:
    """Each sum divided by the sample count, both totalled over all processes
    of a process group (whether each process saw a share of the data or all
    of it)."""
    names = list(sums)
    totals = distributed.all_reduce_sum(torch.stack([sums[k] for k in names]
                                                    + [torch.tensor(float(count), dtype=torch.float64,
                                                                    device=device)]))
    return {k: float(totals[i] / totals[-1]) for i, k in enumerate(names)}
