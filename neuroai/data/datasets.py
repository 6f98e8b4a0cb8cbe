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
