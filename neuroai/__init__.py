"""neuroai: one spiking-network description, run in Brian2 or trained in PyTorch.

neuroai reports through the ``neuroai`` logger of the standard ``logging``
module (silent unless the application configures logging; the ``neuroai``
command shows INFO and above, ``--quiet`` only warnings, ``--verbose`` all).
"""
import logging

from . import decoding, plasticity
from .backends import BackendError, NonFiniteState
from .coding import DeltaEncoder, Latency, PoissonRate, PopulationCode, RegularRate, SpikeArray
from .equations import NeuronModel, SynapseModel
from .network import Input, Monitor, Network, Population, Projection
from .neurons import LIF, AdaptiveLIF, AdEx, HodgkinHuxley, Izhikevich
from .results import SimulationResult, Spikes, Trace, spike_agreement
from .simulator import Simulator
from .synapses import (AllToAll, Delta, Explicit, ExponentialConductance, ExponentialCurrent, FixedProbability, Normal,
                       OneToOne, Uniform)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AdEx", "AdaptiveLIF", "AllToAll", "BackendError", "Delta", "DeltaEncoder", "Explicit", "ExponentialConductance",
    "ExponentialCurrent", "FixedProbability", "HodgkinHuxley", "Input", "Izhikevich", "LIF", "Latency", "Monitor",
    "Network", "NeuronModel", "NonFiniteState", "Normal", "OneToOne", "PoissonRate", "PopulationCode", "Population", "Projection",
    "RegularRate", "SimulationResult", "Simulator", "SpikeArray", "Spikes", "SynapseModel", "Trace", "Uniform",
    "decoding", "plasticity", "spike_agreement",
]
