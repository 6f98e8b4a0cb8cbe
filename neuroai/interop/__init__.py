"""Exchange formats of the field.

Each format lives in its own submodule and imports its library lazily, so
``import neuroai`` never needs them:

- :mod:`neuroai.interop.neo`: spike trains and traces of a
  :class:`~neuroai.SimulationResult` as a ``neo.Block`` (and spike trains back
  to a raster for a ``SpikeArray`` input). Needs ``pip install "neuroai[neo]"``.
"""
