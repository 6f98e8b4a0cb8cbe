"""The loss as a function of a flat parameter vector (shared by the landscape tools).

An :class:`Objective` fixes a model, a loss function, a list of batches and a
selection of the model's named parameters. Its :meth:`Objective.loss` is

    L(theta) = (1 / B) * sum_b loss_fn(model(x_b; theta), y_b),

the unweighted mean of the per-batch losses over the ``B`` stored batches,
where ``theta`` (shape ``[n]``) is the concatenation of the selected
parameters, flattened in ``model.named_parameters()`` order. Parameters that
are not selected, and all buffers, are held constant. The model is called
through :func:`torch.func.functional_call`, so evaluating ``L`` never changes
the model.

``torch.func`` cannot transform a ``torch.autograd.Function`` without a
``setup_context`` staticmethod, such as snnTorch's surrogate spike
functions: a model or loss that calls one makes every tool that
differentiates ``L`` fail with a ``TypeError`` naming the tool, the Function
and what to use instead (:mod:`neuroai.backends.torch_surrogates`).
"""
from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .. import validation as check

LossFn = Callable[[Tensor, Tensor], Tensor]
ParamSelection = str | Iterable[str] | None
Seed = int | torch.Generator

#: How torch refuses an autograd.Function without setup_context under a torch.func transform.
_NO_SETUP_CONTEXT = "must override the setup_context"


def select_parameters(model: nn.Module, params: ParamSelection = None, *,
                      owner: str = "select_parameters") -> dict[str, nn.Parameter]:
    """The named parameters of ``model`` chosen by ``params``, in model order.

    ``params`` is ``None`` (every parameter with ``requires_grad``), a string
    (a module prefix: the parameter of that name, or every parameter whose name
    starts with ``params + "."``, e.g. ``"0"`` or ``"encoder.layer1"``) or an
    iterable of exact parameter names (see :func:`parameter_groups`). ``owner``: the function the errors name.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{owner}: parameter 'model' must be a torch.nn.Module, got {type(model).__name__}")
    named = dict(model.named_parameters())
    if params is None:
        chosen = {n: p for n, p in named.items() if p.requires_grad}
    elif isinstance(params, str):
        chosen = {n: p for n, p in named.items() if n == params or n.startswith(params + ".")}
        if not chosen:
            raise ValueError(f"{owner}: params={params!r} matches no parameter name or module prefix; "
                             f"it must be one of the names {list(named)} or a module prefix")
    else:
        if isinstance(params, (bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{owner}: parameter 'params' must be None, a module prefix or a list of parameter "
                            f"names, got {params!r}")
        wanted = list(params)
        unknown = [n for n in wanted if not isinstance(n, str) or n not in named]
        if unknown:
            raise ValueError(f"{owner}: params names unknown parameters {unknown}; names must be among "
                             f"{list(named)}")
        chosen = {n: p for n, p in named.items() if n in set(wanted)}
    if not chosen:
        raise ValueError(f"{owner}: params selects no parameters (the model has no parameter with requires_grad); "
                         f"it must select at least one")
    dtypes = {p.dtype for p in chosen.values()}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise ValueError(f"{owner}: the selected parameters must share one floating dtype, "
                         f"got {sorted(map(str, dtypes))}")
    if len({p.device for p in chosen.values()}) != 1:
        raise ValueError(f"{owner}: the selected parameters must all live on one device")
    return chosen


def parameter_groups(model: nn.Module) -> dict[str, list[str]]:
    """Per-layer parameter names: ``{module name: [its own parameter names]}``.

    One entry per module that holds trainable parameters directly (not through
    children), in model order; pass a value as ``params=`` to any landscape
    function to get its per-layer version::

        {layer: hessian_trace(model, loss_fn, data, params=names).trace
         for layer, names in parameter_groups(model).items()}
    """
    groups: dict[str, list[str]] = {}
    for mod_name, module in model.named_modules():
        names = [f"{mod_name}.{n}" if mod_name else n
                 for n, p in module.named_parameters(recurse=False) if p.requires_grad]
        if names:
            groups[mod_name] = names
    return groups


def _is_batch(data: Any) -> bool:
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(t, Tensor) for t in data))


def collect_batches(data: Any, num_batches: int | None = None, device: torch.device | None = None, *,
                    owner: str = "collect_batches") -> list[tuple[Tensor, Tensor]]:
    """Stored ``(inputs, targets)`` batches from a batch or an iterable of batches.

    ``data`` is one batch ``(inputs, targets)`` (two tensors, batch dimension
    first) or an iterable of such batches (a list, a ``DataLoader``). At most
    ``num_batches`` batches are taken (all when ``None``); they are kept, so
    every later evaluation sees the very same data even from a shuffling
    loader. Tensors are moved to ``device``. ``owner``: the function the errors name.
    """
    if num_batches is not None and (isinstance(num_batches, bool) or not isinstance(num_batches, int)
                                    or num_batches < 1):
        raise ValueError(f"{owner}: num_batches must be a positive int or None, got {num_batches!r}")
    if isinstance(data, (Tensor, str, bytes, dict)):
        raise TypeError(f"{owner}: data must be a batch (inputs, targets) or an iterable of such batches, "
                        f"got a {type(data).__name__}")
    if _is_batch(data):
        raw = [data]
    else:
        try:
            iterator = iter(data)
        except TypeError:
            raise TypeError(f"{owner}: data must be a batch (inputs, targets) or an iterable of such batches, "
                            f"got {type(data).__name__}") from None
        raw = []
        for batch in iterator:
            if num_batches is not None and len(raw) >= num_batches:
                break
            raw.append(batch)
    batches = []
    for i, batch in enumerate(raw):
        if not _is_batch(batch):
            raise TypeError(f"{owner}: data batch {i} must be a pair (inputs, targets) of tensors, "
                            f"got {type(batch).__name__}")
        x, y = batch
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"{owner}: data batch {i} is empty (inputs of shape {tuple(x.shape)}); it must "
                             f"hold at least one sample along its first dimension")
        batches.append((x.to(device), y.to(device)) if device is not None else (x, y))
    if not batches:
        raise ValueError(f"{owner}: data is empty: it yielded no batch, and it must hold at least one")
    return batches


def make_generator(seed: Seed, owner: str = "make_generator") -> torch.Generator:
    """A CPU ``torch.Generator``: seeded from an int (as ``torch.Generator.manual_seed`` takes it: in
    [-2**63, 2**64 - 1]), or ``seed`` itself."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{owner}: seed must be an int or a torch.Generator, got {type(seed).__name__}")
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"{owner}: seed must be in [-2**63, 2**64 - 1], got {seed!r}")
    return torch.Generator().manual_seed(seed)


def _untransformable(owner: str, err: RuntimeError) -> TypeError:
    """The error for ``err``, torch's refusal to run an ``autograd.Function`` without ``setup_context``
    under a ``torch.func`` transform, naming the Function (found in the traceback) and the way out."""
    applied = [cls for frame, _ in traceback.walk_tb(err.__traceback__)  # Function.apply(cls, ...) raised it
               if isinstance(cls := frame.f_locals.get("cls"), type) and issubclass(cls, torch.autograd.Function)]
    function = f"{applied[-1].__module__}.{applied[-1].__qualname__}" if applied else "(not found)"
    return TypeError(f"{owner}: the model (or loss_fn) uses the autograd.Function {function}, which has no "
                     f"setup_context staticmethod, so torch.func (grad, jvp, vmap) cannot transform it and the "
                     f"loss cannot be differentiated here. snnTorch's surrogate spike functions are such "
                     f"Functions: use neuroai.backends.torch_surrogates.atan() (the TorchNetwork default), "
                     f"fast_sigmoid() or sigmoid() instead, as TorchNetwork's surrogate_fn or an snnTorch layer's "
                     f"spike_grad; or give the Function a setup_context (see torch's 'Extending torch.func with "
                     f"autograd.Function')")


def scalar_loss(owner: str, loss) -> Tensor:
    """``loss``, which ``loss_fn`` returned: it must be a one-element tensor."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shown = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else repr(loss)
        raise ValueError(f"{owner}: loss_fn must return a scalar tensor (use mean reduction), got {shown}")
    return loss.reshape(())


def first_loss(owner: str, model: nn.Module, evaluate, batch: tuple[Tensor, Tensor]) -> float:
    """``evaluate(batch)``, the loss of the first batch, checked at entry: that the model takes the inputs and
    ``loss_fn`` the outputs and targets, and returns a finite scalar. A model or loss that fails on them is a
    ``ValueError`` naming the shapes (the original exception chained). The model's buffers (batch-norm
    statistics) are left as they were."""
    x, y = batch
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        with torch.no_grad():
            value = float(scalar_loss(owner, evaluate(batch)))
    except (RuntimeError, TypeError, IndexError) as err:
        if isinstance(err, torch.OutOfMemoryError):
            raise
        raise ValueError(f"{owner}: data batch 0 (inputs of shape {tuple(x.shape)}, targets of shape "
                         f"{tuple(y.shape)}) does not fit the model and loss_fn: {check._reason(err)}") from err
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: the loss on data batch 0 is {value} at the model's weights; it must be finite "
                         f"(are there NaN or infinite weights or data?)")
    return value


class Objective:
    """The mean batch loss as a pure function of the flat selected parameters.

    Args:
        model: the network; it is never modified.
        loss_fn: ``loss_fn(model(inputs), targets) -> scalar tensor``
            (e.g. ``nn.MSELoss()``, ``F.cross_entropy``).
        data: a batch ``(inputs, targets)`` or an iterable of batches.
        params: which named parameters form ``theta`` (see :func:`select_parameters`).
        num_batches: use at most this many batches of ``data`` (all when ``None``).

    Attributes:
        names, shapes: the selected parameters' names and shapes.
        num_params: ``n``, the length of ``theta``.
        batches: the stored batches, on the parameters' device.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: Any, *,
                 params: ParamSelection = None, num_batches: int | None = None, owner: str | None = None):
        owner = type(self).__name__ if owner is None else owner
        self.owner = owner
        if not callable(loss_fn):
            raise TypeError(f"{owner}: parameter 'loss_fn' must be callable (output, target) -> loss, "
                            f"got {type(loss_fn).__name__}")
        self.model = model
        self.loss_fn = loss_fn
        selected = select_parameters(model, params, owner=owner)
        self.names = list(selected)
        self.shapes = [p.shape for p in selected.values()]
        self.numels = [p.numel() for p in selected.values()]
        self.num_params = sum(self.numels)
        first = next(iter(selected.values()))
        self.dtype, self.device = first.dtype, first.device
        self.batches = collect_batches(data, num_batches, self.device, owner=owner)
        self._selected = selected
        first_loss(owner, model, lambda b: self.batch_loss(self.flat_params(), b), self.batches[0])

    def flat_params(self) -> Tensor:
        """The current selected parameters as one detached vector, shape ``[n]``."""
        return torch.cat([p.detach().reshape(-1) for p in self._selected.values()])

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """Split a flat vector ``[n]`` into ``{name: tensor of the parameter's shape}``."""
        if theta.shape != (self.num_params,):
            raise ValueError(f"{self.owner}: expected a vector of shape ({self.num_params},), "
                             f"got {tuple(theta.shape)}")
        return {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.numels), self.shapes)}

    def flatten(self, tensors: dict[str, Tensor]) -> Tensor:
        """Concatenate ``{name: tensor}`` (every selected name) into a vector ``[n]``."""
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def batch_loss(self, theta: Tensor, batch: tuple[Tensor, Tensor], buffers: dict[str, Tensor] | None = None
                   ) -> Tensor:
        """``loss_fn(model(x; theta), y)`` for one batch; differentiable in ``theta`` (a ``TypeError`` under a
        ``torch.func`` transform if the model uses an ``autograd.Function`` it cannot transform).
        ``buffers``: tensors to use in place of the model's buffers of those names."""
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if n not in self._selected}
        frozen.update(buffers or {})
        frozen.update(self.unflatten(theta))
        x, y = batch
        try:
            loss = self.loss_fn(functional_call(self.model, frozen, (x,)), y)
        except RuntimeError as err:
            if _NO_SETUP_CONTEXT not in str(err):
                raise
            raise _untransformable(self.owner, err) from err
        return scalar_loss(self.owner, loss)

    def loss(self, theta: Tensor | None = None) -> Tensor:
        """The mean batch loss at ``theta`` (default: the current parameters), a scalar."""
        theta = self.flat_params() if theta is None else theta
        return sum(self.batch_loss(theta, b) for b in self.batches) / len(self.batches)
