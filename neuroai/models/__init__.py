"""Model definitions (``nn.Module`` subclasses) for the training tools.

>>> from neuroai.models import MLP, SpikingClassifier, feedforward_network
>>> model = MLP([64, 128, 10], activation="relu", dropout=0.2, batch_norm=True, seed=0)
>>> snn = SpikingClassifier(feedforward_network([64, 100, 10], seed=0), steps=25, seed=0)
"""
from .mlp import ACTIVATIONS, INITS, MLP
from .rnnlm import LMTraining, RNNLanguageModel, fit_language_model, generate, perplexity
from .snn import SpikingClassifier, feedforward_network
from .stn import SpatialTransformer, STClassifier

__all__ = ["MLP", "ACTIVATIONS", "INITS", "LMTraining", "RNNLanguageModel", "SpikingClassifier",
           "SpatialTransformer", "STClassifier", "feedforward_network", "fit_language_model", "generate", "perplexity"]
