"""Seeded train/validation/test splits, stratified by class when asked."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import validation as check


@dataclass(frozen=True, eq=False)
class Split:
    """Index arrays into the data set, disjoint and together covering it."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def train_val_test_split(n_or_labels, val: float = 0.15, test: float = 0.15, *, seed: int = 0,
                         stratify: bool = True) -> Split:
    """Split ``n`` samples (or the samples of a label array) at random.

    - n_or_labels: the number of samples, or the labels (shape (n,)); with
      labels and ``stratify=True`` every class is split in the same
      proportions (rounded per class).
    - val, test: fractions in [0, 1) with ``val + test < 1``.

    Returns a :class:`Split` of sorted index arrays; the same seed gives the same split.
    """
    val = check.real("train_val_test_split", "val", val, nonnegative=True)
    test = check.real("train_val_test_split", "test", test, nonnegative=True)
    if val + test >= 1.0:
        raise ValueError(f"train_val_test_split: 'val' + 'test' must be < 1, got {val} + {test}")
    owner = "train_val_test_split"
    check.seed(owner, seed)
    stratify = check.flag(owner, "stratify", stratify)
    labels = check.as_array(owner, "n_or_labels", n_or_labels, "a number of samples or a 1-D array of labels")
    if labels.ndim == 0:
        n = check.integer(owner, "n", n_or_labels, minimum=1)
        check.memory(owner, 32.0 * n, f"index arrays of {n} samples", "split fewer samples")
        labels = np.zeros(n, dtype=np.int64)
        stratify = False
    else:
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"train_val_test_split: labels must be a non-empty 1-D array, got shape {labels.shape}")
        if labels.dtype.kind not in "biufUS" or (labels.dtype.kind == "f" and not np.all(np.isfinite(labels))):
            nan = " with NaN or inf" if labels.dtype.kind == "f" else ""
            raise ValueError(f"{owner}: labels must be integers, strings or finite numbers (one class each), "
                             f"got an array of dtype {labels.dtype}{nan}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    parts = {"train": [], "val": [], "test": []}
    for idx in groups:
        idx = rng.permutation(idx)
        n_test, n_val = int(round(test * len(idx))), int(round(val * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    return Split(**{k: np.sort(np.concatenate(v)) for k, v in parts.items()})
