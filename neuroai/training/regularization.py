"""Regularization: weight penalties, a loss that adds them, and training-only augmentation.

Each regularizer is an option of the training setup:

* **L2 / weight decay**: :func:`l2_penalty` or ``RegularizedLoss(loss, model, l2=wd)``
  adds ``wd/2 * sum(w**2)``, whose gradient ``wd * w`` is exactly what
  ``torch.optim.SGD(..., weight_decay=wd)`` adds (the optimizer's
  ``weight_decay`` decays biases too unless they sit in a parameter group
  with ``weight_decay=0``; with Adam, ``AdamW`` decouples the decay instead).
* **L1 (sparsity)**: :func:`l1_penalty` or ``RegularizedLoss(..., l1=lam)``
  adds ``lam * sum(|w|)``.
* **Dropout** and **batch normalization**: layers of the model
  (``neuroai.models.MLP(sizes, dropout=0.5, batch_norm=True)``).
* **Label smoothing**: ``nn.CrossEntropyLoss(label_smoothing=0.1)``.
* **Data augmentation**: :class:`Augmented` wraps the *training* loader, so a
  transform such as :class:`neuroai.data.RandomAffine` changes training
  batches and never validation or test batches.
* **Early stopping**: :class:`neuroai.training.EarlyStopping`.

Example::

    model = MLP([64, 128, 10], dropout=0.2, seed=0)
    loss = RegularizedLoss(nn.CrossEntropyLoss(label_smoothing=0.1), model, l2=1e-3)
    train = Augmented(train_loader, RandomAffine(degrees=10, generator=g))
    Trainer(model, loss, torch.optim.SGD(model.parameters(), lr=0.1)).fit(train, val_loader, epochs=20)
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from .. import validation as check

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = _NORM_TYPES + (nn.RMSNorm,)


def penalized_parameters(model: nn.Module, include_all: bool = False) -> list[torch.nn.Parameter]:
    """The parameters a weight penalty applies to: every parameter of
    ``model`` except biases (names starting with ``bias``, e.g. ``bias`` or
    an LSTM's ``bias_ih_l0``) and the parameters of normalization layers
    (BatchNorm, LayerNorm, GroupNorm, ...), unless ``include_all``. Shared
    parameters appear once."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"penalized_parameters: parameter 'model' must be a torch.nn.Module, "
                        f"got {type(model).__name__}")
    if check.flag("penalized_parameters", "include_all", include_all):
        return list(model.parameters())
    seen: set[int] = set()
    params = []
    for module in model.modules():
        if isinstance(module, _NORM_TYPES):
            for p in module.parameters(recurse=False):
                seen.add(id(p))
            continue
        for name, p in module.named_parameters(recurse=False):
            if name.startswith("bias") or id(p) in seen:
                continue
            seen.add(id(p))
            params.append(p)
    return params


def _l1(p: torch.Tensor) -> torch.Tensor:
    return p.abs().sum()


def _l2(p: torch.Tensor) -> torch.Tensor:
    return p.pow(2).sum() / 2


def _penalty(owner: str, model, weight, include_all, term, name: str = "weight") -> torch.Tensor:
    weight = check.real(owner, name, weight, nonnegative=True)
    if not isinstance(model, nn.Module):
        raise TypeError(f"{owner}: parameter 'model' must be a torch.nn.Module, got {type(model).__name__}")
    params = penalized_parameters(model, check.flag(owner, "include_all", include_all))
    if not params:
        return torch.zeros(())
    total = sum(term(p) for p in params)
    penalty = weight * total
    if not bool(torch.isfinite(penalty)) and bool(torch.isfinite(total)):
        raise ValueError(f"{owner}: the penalty overflows {total.dtype} with {name}={weight!r}; parameter "
                         f"'{name}' must be smaller")
    return penalty


def l1_penalty(model: nn.Module, weight: float, include_all: bool = False) -> torch.Tensor:
    """``weight * sum(|w|)`` over :func:`penalized_parameters` (a scalar
    tensor in the autograd graph). Drives many weights to (near) zero."""
    return _penalty("l1_penalty", model, weight, include_all, _l1)


def l2_penalty(model: nn.Module, weight: float, include_all: bool = False) -> torch.Tensor:
    """``weight / 2 * sum(w**2)`` over :func:`penalized_parameters`. Its
    gradient ``weight * w`` equals the term SGD's ``weight_decay=weight``
    adds, so the two are interchangeable for plain SGD."""
    return _penalty("l2_penalty", model, weight, include_all, _l2)


class RegularizedLoss(nn.Module):
    """``loss_fn(output, target) + l1_penalty(model, l1) + l2_penalty(model, l2)``.

    A drop-in ``loss_fn`` for :class:`~neuroai.training.Trainer`. The model
    is referenced, not registered as a submodule (so this loss has no
    parameters of its own and moving it does not move the model). Since
    the Trainer also evaluates with ``loss_fn``, ``val_loss`` includes the
    penalty too; ``last_base_loss`` and ``last_penalty`` hold the two parts
    of the latest call.
    """

    def __init__(self, loss_fn: Callable, model: nn.Module, l1: float = 0.0, l2: float = 0.0,
                 include_all: bool = False):
        super().__init__()
        if not callable(loss_fn):
            raise TypeError(f"RegularizedLoss: parameter 'loss_fn' must be callable (output, target) -> loss, "
                            f"got {loss_fn!r}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"RegularizedLoss: parameter 'model' must be a torch.nn.Module, "
                            f"got {type(model).__name__}")
        self.loss_fn = loss_fn
        object.__setattr__(self, "_model", model)  # not a submodule
        self.l1 = check.real("RegularizedLoss", "l1", l1, nonnegative=True)
        self.l2 = check.real("RegularizedLoss", "l2", l2, nonnegative=True)
        self.include_all = check.flag("RegularizedLoss", "include_all", include_all)
        self.last_base_loss: torch.Tensor | None = None
        self.last_penalty: torch.Tensor | None = None

    @property
    def model(self) -> nn.Module:
        """The model whose parameters are penalized (referenced, not a submodule)."""
        return self._model

    def penalty(self) -> torch.Tensor:
        """The current penalty (0 when ``l1 == l2 == 0``)."""
        total = torch.zeros(())
        if self.l1 > 0:
            total = total + _penalty("RegularizedLoss", self._model, self.l1, self.include_all, _l1, "l1")
        if self.l2 > 0:
            total = total + _penalty("RegularizedLoss", self._model, self.l2, self.include_all, _l2, "l2")
        return total

    def forward(self, output, target) -> torch.Tensor:
        """``loss_fn(output, target) + penalty()`` (the penalty moved to the loss's device and dtype); stores
        the two parts, detached, in ``last_base_loss`` and ``last_penalty``."""
        base = self.loss_fn(output, target)
        penalty = self.penalty().to(base.device, base.dtype)
        self.last_base_loss, self.last_penalty = base.detach(), penalty.detach()
        return base + penalty

    def extra_repr(self) -> str:
        """``l1``, ``l2`` and ``include_all``, for the module's ``repr``."""
        return f"l1={self.l1}, l2={self.l2}, include_all={self.include_all}"


class Augmented:
    """A loader whose batches ``(inputs, targets)`` come out as
    ``(transform(inputs), targets)``.

    Wrap only the training loader: ``Trainer.fit(Augmented(train, t), val)``
    augments training batches and leaves validation (and test) batches
    alone. ``loader`` is any re-iterable of ``(inputs, targets)`` pairs
    (usually a ``DataLoader``); ``transform`` any callable on an input batch
    (e.g. :class:`neuroai.data.RandomAffine`, :class:`~neuroai.data.AddNoise`,
    :class:`~neuroai.data.Cutout`). ``len()`` and the samplers are the
    wrapped loader's. The transform's own ``generator`` (when it has one) is
    exposed as ``generator``, so ``Trainer(seed=...)`` seeds it and
    checkpoints restore it; a transform without one draws from torch's
    global generator, which the Trainer seeds as well.
    """

    def __init__(self, loader, transform: Callable):
        if isinstance(loader, (str, bytes, dict, torch.Tensor)) or not hasattr(loader, "__iter__"):
            raise TypeError(f"Augmented: parameter 'loader' must be an iterable of (inputs, targets) batches, "
                            f"got {type(loader).__name__}")
        if not callable(transform):
            raise TypeError(f"Augmented: parameter 'transform' must be callable, got {transform!r}")
        self.loader = loader
        self.transform = transform

    @property
    def generator(self):
        """The transform's ``torch.Generator`` if it has one, else the wrapped loader's ``generator`` (or None)."""
        g = getattr(self.transform, "generator", None)
        return g if isinstance(g, torch.Generator) else getattr(self.loader, "generator", None)

    @property
    def sampler(self):
        """The wrapped loader's ``sampler`` (None if it has none)."""
        return getattr(self.loader, "sampler", None)

    @property
    def batch_sampler(self):
        """The wrapped loader's ``batch_sampler`` (None if it has none)."""
        return getattr(self.loader, "batch_sampler", None)

    @property
    def dataset(self):
        """The wrapped loader's ``dataset`` (None if it has none)."""
        return getattr(self.loader, "dataset", None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            if not isinstance(batch, (list, tuple)) or len(batch) != 2:
                raise ValueError("Augmented: each batch must be an (inputs, targets) pair, "
                                 f"got {type(batch).__name__}")
            inputs, targets = batch
            yield self.transform(inputs), targets

    def __repr__(self) -> str:
        return f"Augmented({self.loader!r}, {self.transform!r})"
