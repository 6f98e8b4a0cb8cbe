"""Data sets that need no download: they ship inside installed packages."""
from __future__ import annotations

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (UCI optdigits).

    Returns ``(images, labels)``: images float32 of shape (1797, 8, 8) scaled
    to [0, 1] (the raw pixels are counts 0..16), labels int64 of shape (1797,).
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def digits_train_test(test: float, seed: int):
    """Digits as torch tensors split by a seeded stratified split:
    ``{"train": (x, y), "test": (x, y)}``, images (n, 8, 8) float32 in [0, 1]."""
    import torch

    from .splits import train_val_test_split

    images, labels = load_digits()
    split = train_val_test_split(labels, 0.0, test, seed=seed)
    x, y = torch.tensor(images), torch.tensor(labels)
    return {"train": (x[split.train], y[split.train]), "test": (x[split.test], y[split.test])}
