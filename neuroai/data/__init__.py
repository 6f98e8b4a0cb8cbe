"""Data sets that ship with installed packages, seeded splits and image augmentation."""
from .augment import AddNoise, Cutout, RandomAffine
from .datasets import load_digits
from .splits import Split, train_val_test_split

__all__ = ["AddNoise", "Cutout", "RandomAffine", "Split", "load_digits", "train_val_test_split"]
