"""Model definitions (``nn.Module`` subclasses) for the training tools.

>>> from neuroai.models import MLP
>>> model = MLP([64, 128, 10], activation="relu", dropout=0.2, batch_norm=True, seed=0)
"""
from .mlp import ACTIVATIONS, INITS, MLP

__all__ = ["MLP", "ACTIVATIONS", "INITS"]
