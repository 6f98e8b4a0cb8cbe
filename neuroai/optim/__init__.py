"""Optimizers that torch.optim lacks, each a ``torch.optim.Optimizer``."""
from .langevin import Langevin

__all__ = ["Langevin"]
