"""Data sets that ship with installed packages, seeded splits and image augmentation."""
from .augment import AddNoise, Cutout, RandomAffine
from .datasets import digits_train_test, load_digits
from .mnist import load_mnist5k, load_mnist_idx, read_idx
from .splits import Split, train_val_test_split

__all__ = ["AddNoise", "Cutout", "RandomAffine", "Split", "digits_train_test", "load_digits", "load_mnist5k", "load_mnist_idx", "read_idx",
           "train_val_test_split"]
