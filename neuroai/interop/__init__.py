"""Exchange formats of the field.

Each format lives in its own submodule and imports its library lazily, so
``import neuroai`` never needs them:

- :mod:`neuroai.interop.neo`: spike trains and traces of a
  :class:`~neuroai.SimulationResult` as a ``neo.Block`` (and spike trains back
  to a raster for a ``SpikeArray`` input). Needs ``pip install "neuroai[neo]"``.
- :mod:`neuroai.interop.nir`: the static subset of a :class:`~neuroai.Network`
  to a NIR graph (:func:`to_nir`) and NIR graphs back to a Network
  (:func:`from_nir`), including snnTorch's exports. Needs
  ``pip install "neuroai[nir]"``.
"""
from .nir import from_nir, to_nir

__all__ = ["to_nir", "from_nir"]
