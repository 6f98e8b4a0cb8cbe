"""Metrics computed on a batch, and the generalization gap of an epoch.

A metric is a callable ``metric(output, target) -> float or 0-d tensor``
giving the *mean* over the batch; the :class:`~neuroai.training.Trainer`
weights each batch by its size, so an epoch's value is the mean over every
sample. :data:`METRICS` names the built-in ones.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions in a batch.

    ``output`` of shape ``[batch, classes]`` (``classes > 1``) is read as
    scores: the prediction is the arg-max, compared with integer class
    labels ``target[batch]`` (or one-hot/probability targets
    ``[batch, classes]``, compared by their arg-max). ``output`` of shape
    ``[batch]`` or ``[batch, 1]`` is read as a binary logit: the prediction is
    ``output > 0``, compared with ``target > 0.5``.
    """
    for name, value in (("output", output), ("target", target)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"accuracy: parameter '{name}' must be a tensor, got {type(value).__name__}")
        if value.is_complex():
            raise TypeError(f"accuracy: parameter '{name}' must be a real tensor, got dtype {value.dtype}")
    if output.numel() == 0:
        raise ValueError(f"accuracy: parameter 'output' must hold at least one prediction, got shape "
                         f"{tuple(output.shape)}")
    if output.dim() >= 2 and output.shape[-1] > 1:
        pred = output.argmax(dim=-1)
        if target.dim() == output.dim() and target.shape == output.shape:
            target = target.argmax(dim=-1)
        if pred.shape != target.shape:
            raise ValueError(f"accuracy: targets of shape {tuple(target.shape)} do not match "
                             f"predictions of shape {tuple(pred.shape)} (from outputs {tuple(output.shape)}); "
                             f"they must have one label per prediction")
        return (pred == target).float().mean()
    pred = output.reshape(-1) > 0
    truth = target.reshape(-1) > 0.5
    if pred.shape != truth.shape:
        raise ValueError(f"accuracy: {truth.numel()} binary targets for {pred.numel()} outputs; 'target' must "
                         f"have one per output")
    return (pred == truth).float().mean()


METRICS: dict[str, Callable] = {"accuracy": accuracy}


def resolve_metrics(metrics) -> dict[str, Callable]:
    """``{name: callable}`` from ``None``, a mapping, or a sequence of names
    in :data:`METRICS` and/or callables (named by ``__name__``)."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        items = list(metrics.items())
    elif isinstance(metrics, Sequence) and not isinstance(metrics, str):
        items = []
        for m in metrics:
            if isinstance(m, str):
                items.append((m, m))
            elif callable(m):
                items.append((getattr(m, "__name__", type(m).__name__), m))
            else:
                raise TypeError(f"Trainer: parameter 'metrics' must hold names or callables, got {m!r}")
    else:
        raise TypeError("Trainer: parameter 'metrics' must be a mapping {name: callable} or a list of "
                        f"names/callables, got {metrics!r}")
    out: dict[str, Callable] = {}
    for name, m in items:
        if not isinstance(name, str):
            raise TypeError(f"Trainer: parameter 'metrics' must name each metric with a str, got {name!r}")
        if isinstance(m, str):
            if m not in METRICS:
                raise ValueError(f"Trainer: unknown metric {m!r}; known metrics: {sorted(METRICS)}")
            m = METRICS[m]
        if not callable(m):
            raise TypeError(f"Trainer: metric {name!r} must be callable, got {m!r}")
        if name == "loss" or name.startswith(("val_", "gap_")):
            raise ValueError(f"Trainer: metric name {name!r} is reserved (loss, val_*, gap_*)")
        out[name] = m
    return out


def generalization_gap(logs: Mapping[str, float], prefix: str = "val_") -> dict[str, float]:
    """``gap_<name> = logs[prefix + name] - logs[name]`` for every ``name``
    (loss and each metric) logged both on the training and the held-out data.

    The sign is the same for every quantity (held-out minus training): an
    overfitting model has ``gap_loss > 0`` and ``gap_accuracy < 0``.
    """
    if not isinstance(logs, Mapping):
        raise TypeError(f"generalization_gap: parameter 'logs' must be a mapping {{name: value}}, "
                        f"got {type(logs).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"generalization_gap: parameter 'prefix' must be a str such as 'val_', got {prefix!r}")
    gaps = {}
    for key, value in logs.items():
        if not isinstance(key, str):
            continue
        held = logs.get(prefix + key)
        if key.startswith((prefix, "gap_")) or held is None:
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, held)):
            gaps[f"gap_{key}"] = float(held) - float(value)
    return gaps


def is_finite_number(value) -> bool:
    """True for a finite real number (a Python or 0-d tensor value)."""
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all())
    return isinstance(value, (int, float)) and math.isfinite(value)


@torch.no_grad()
def cross_entropy_and_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of a classifier on ``(x, y)``, evaluated
    in eval mode; the model's mode is restored afterwards."""
    mode = model.training
    model.eval()
    out = model(x)
    model.train(mode)
    return torch.nn.functional.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()
