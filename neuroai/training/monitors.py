"""Per-layer monitors of a network's forward activations and backward gradients.

>>> act, grad = ActivationMonitor(model), GradientMonitor(model)
>>> loss = loss_fn(model(x), y); loss.backward()          # doctest: +SKIP
>>> act.rows()            # one dict per monitored layer      # doctest: +SKIP
>>> grad.collect()        # {parameter name: gradient L2 norm} # doctest: +SKIP
>>> act.remove(); grad.remove()

Both are also :class:`~neuroai.training.Callback` s: given to a
:class:`~neuroai.training.Trainer`, :class:`GradientMonitor` collects after
every ``backward()`` (before gradient clipping, which runs later), and
:class:`ActivationMonitor` keeps one snapshot of the training batches per
epoch.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import validation as check
from .callbacks import Callback

#: activation modules monitored by default (with the ``nn.Linear`` layers)
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.SiLU, nn.Hardtanh,
)


def _saturated(module: nn.Module, y: torch.Tensor, margin: float) -> float:
    """Fraction of outputs within ``margin`` of a bound of a bounded activation
    (tanh, hardtanh: +-1; sigmoid: 0 and 1); NaN for unbounded ones."""
    if isinstance(module, nn.Tanh):
        return float((y.abs() >= 1.0 - margin).float().mean())
    if isinstance(module, nn.Hardtanh):
        return float(((y >= module.max_val - margin) | (y <= module.min_val + margin)).float().mean())
    if isinstance(module, nn.Sigmoid):
        return float(((y <= margin) | (y >= 1.0 - margin)).float().mean())
    return math.nan


def activation_stats(module: nn.Module, y: torch.Tensor, margin: float = 0.01) -> dict:
    """Statistics of one module's output ``y`` (any shape, first dimension
    the batch), over all its elements: ``mean``, ``std`` (population, ddof
    0), ``frac_zero`` (exactly 0: dead ReLU units), ``frac_saturated`` (see
    :func:`_saturated`; NaN for unbounded activations and linear layers)."""
    y = y.detach().to(torch.float64)
    return {"mean": float(y.mean()), "std": float(y.std(unbiased=False)) if y.numel() else math.nan,
            "frac_zero": float((y == 0).float().mean()), "frac_saturated": _saturated(module, y, margin)}


class ActivationMonitor(Callback):
    """Forward hooks on ``model``'s ``nn.Linear`` layers and activation
    modules (``types``; default ``nn.Linear`` + :data:`ACTIVATION_TYPES`)
    recording the statistics of each one's output at every forward pass
    (detached, under no grad; in units of the activations).

    ``stats``: module name (as in ``model.named_modules()``) -> the
    :func:`activation_stats` dict of the latest forward pass, in network
    order; ``rows()`` lists them as ``{"layer": i, "name", "kind", ...}``
    (``i`` from 0 in the order of the modules). As a Trainer callback,
    ``history`` gets ``{"epoch": e, "rows": rows()}`` per epoch, taken after
    the epoch's last training batch (not the validation pass).
    ``margin`` sets what counts as saturated. ``remove()`` detaches the hooks.
    """

    order = -50

    def __init__(self, model: nn.Module, types: tuple[type[nn.Module], ...] | None = None, margin: float = 0.01):
        if not isinstance(model, nn.Module):
            raise TypeError(f"ActivationMonitor: parameter 'model' must be a torch.nn.Module, got {model!r}")
        if types is not None and (isinstance(types, (str, bytes, type)) or not hasattr(types, "__iter__")
                                  or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types)):
            raise TypeError(f"ActivationMonitor: parameter 'types' must be a tuple of nn.Module classes such as "
                            f"(nn.Linear, nn.ReLU), got {types!r}")
        self.types = (nn.Linear, *ACTIVATION_TYPES) if types is None else tuple(types)
        self.margin = check.real("ActivationMonitor", "margin", margin, nonnegative=True)
        self.names: list[str] = []
        self.kinds: dict[str, str] = {}
        self.stats: dict[str, dict] = {}
        self.history: list[dict] = []
        self._train_rows: list[dict] | None = None
        self._handles = []
        for name, module in model.named_modules():
            if isinstance(module, self.types):
                self.names.append(name)
                self.kinds[name] = type(module).__name__
                self._handles.append(module.register_forward_hook(self._hook(name)))
        if not self.names:
            raise ValueError(f"ActivationMonitor: the model has no module of the types "
                             f"{[t.__name__ for t in self.types]}; parameter 'types' must name a kind of module "
                             f"the model holds")

    def _hook(self, name: str):
        def hook(module, inputs, output):
            with torch.no_grad():
                self.stats[name] = activation_stats(module, output, self.margin)
        return hook

    def rows(self, kind: str | None = None) -> list[dict]:
        """The latest statistics, one dict per monitored module that has run,
        in network order; ``kind`` (e.g. ``"Linear"``, ``"ReLU"``) keeps that
        class only."""
        names = [n for n in self.names if n in self.stats and (kind is None or self.kinds[n] == kind)]
        return [{"layer": i, "name": n, "kind": self.kinds[n], **self.stats[n]} for i, n in enumerate(names)]

    def clear(self) -> None:
        """Forget the latest statistics (``stats``); the hooks and ``history`` stay."""
        self.stats.clear()

    def remove(self) -> None:
        """Detach every hook (the recorded statistics stay)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def on_batch_end(self, trainer, batch, logs):
        """Keep :meth:`rows` of this training batch, so validation passes do not replace the epoch's snapshot."""
        self._train_rows = self.rows()

    def on_epoch_end(self, trainer, epoch, logs):
        """Append ``{"epoch": epoch, "rows": ...}`` with the rows of the epoch's last training batch to ``history``."""
        if self._train_rows is not None:
            self.history.append({"epoch": epoch, "rows": self._train_rows})


class GradientMonitor(Callback):
    """The L2 norm of each parameter's gradient after ``backward()``.

    Standalone: call :meth:`collect` after ``loss.backward()``. As a Trainer
    callback it collects at every ``on_after_backward``, before
    :class:`~neuroai.training.GradientClipping` (``order`` -50 < 0), so it
    sees the unclipped gradients. ``norms``: parameter name -> norm of the
    latest collect (parameters without a gradient are left out); ``total``:
    the norm of all of them together; ``history``: one ``{"step": k,
    "total": ..., **norms}`` per collect when ``keep_history`` (k from 0).
    Units: those of the loss per unit of the parameter.
    """

    order = -50

    def __init__(self, model: nn.Module, keep_history: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"GradientMonitor: parameter 'model' must be a torch.nn.Module, got {model!r}")
        self.model = model
        self.keep_history = check.flag("GradientMonitor", "keep_history", keep_history)
        self.norms: dict[str, float] = {}
        self.total: float = math.nan
        self.history: list[dict] = []

    @torch.no_grad()
    def collect(self) -> dict[str, float]:
        """Read the gradients now; returns (and stores in ``norms``) parameter name -> L2 norm."""
        if self.model is None:
            raise RuntimeError("GradientMonitor: collect() after remove()")
        norms = {n: float(p.grad.detach().to(torch.float64).norm())
                 for n, p in self.model.named_parameters() if p.grad is not None}
        self.norms = norms
        self.total = math.sqrt(sum(v * v for v in norms.values())) if norms else math.nan
        if self.keep_history:
            self.history.append({"step": len(self.history), "total": self.total, **norms})
        return norms

    def layer_norms(self, suffix: str = "weight") -> list[float]:
        """The latest norms of the parameters whose name ends in ``.suffix``
        (e.g. each Linear layer's weight), in network order."""
        return [v for n, v in self.norms.items() if n == suffix or n.endswith("." + suffix)]

    def remove(self) -> None:
        """Forget the model (no hooks are registered; for symmetry with
        :class:`ActivationMonitor`)."""
        self.model = None

    def on_after_backward(self, trainer):
        """:meth:`collect` the unclipped gradients (nothing after :meth:`remove`)."""
        if self.model is not None:
            self.collect()
