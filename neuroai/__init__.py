"""neuroai: one spiking-network description, run in Brian2 or trained in PyTorch."""
from . import decoding
from .coding import DeltaEncoder, Latency, PoissonRate, PopulationCode, RegularRate, SpikeArray
from .network import Input, Monitor, Network, Population, Projection
from .neurons import LIF
from .results import SimulationResult, Spikes, Trace, spike_agreement
from .simulator import Simulator
from .synapses import AllToAll, Delta, Explicit, ExponentialCurrent, FixedProbability, Normal, OneToOne, Uniform

__version__ = "0.1.0"

__all__ = [
    "AllToAll", "Delta", "DeltaEncoder", "Explicit", "ExponentialCurrent", "FixedProbability", "Input", "LIF",
    "Latency", "PopulationCode", "decoding",
    "Monitor", "Network", "Normal", "OneToOne", "PoissonRate", "Population", "Projection", "RegularRate",
    "SimulationResult", "Simulator", "SpikeArray", "Spikes", "Trace", "Uniform", "spike_agreement",
]
