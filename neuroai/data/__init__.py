"""Data sets that ship with installed packages, loaders for standard formats (MNIST IDX, PTB/WikiText text),
seeded splits and image augmentation."""
from .augment import AddNoise, Cutout, RandomAffine
from .datasets import digits_train_test, load_digits
from .distortions import DISTORTIONS, distort
from .mnist import load_mnist5k, load_mnist_idx, read_idx
from .splits import Split, train_val_test_split
from .text import Corpus, Vocabulary, load_corpus, python_docs_corpus

__all__ = ["AddNoise", "Corpus", "Cutout", "DISTORTIONS", "distort", "RandomAffine", "Split", "Vocabulary", "digits_train_test", "load_corpus",
           "load_digits", "load_mnist5k", "load_mnist_idx", "python_docs_corpus", "read_idx", "train_val_test_split"]
