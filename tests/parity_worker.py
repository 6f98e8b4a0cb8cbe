"""One process of the instruction-set test (tests/test_parity.py): run the
networks whose states go through ``exp`` (AdEx, conductances) on both
backends in float64, under whatever SIMD dispatch the environment asks numpy
(``NPY_DISABLE_CPU_FEATURES``) and torch (``ATEN_CPU_CAPABILITY``) for, and
print as JSON what dispatch was in effect and whether spikes and traces were
identical."""
import json

import numpy as np
import torch
from numpy._core._multiarray_umath import __cpu_features__

import neuroai as na
from test_neurons import conductance_network, mixed_network


def compare(net: na.Network, duration: float) -> tuple[bool, int]:
    """(identical spikes and traces, number of spikes)."""
    brian = na.Simulator(net, "brian2", seed=1).run(duration)
    torch_ = na.Simulator(net, "torch", seed=1, dtype="float64").run(duration)
    same = all(np.array_equal(brian.spikes[p].steps, torch_.spikes[p].steps)
               and np.array_equal(brian.spikes[p].indices, torch_.spikes[p].indices) for p in brian.spikes)
    same = same and all(np.array_equal(brian.trace(k).values, torch_.trace(k).values) for k in brian.traces)
    return same, sum(len(s.steps) for s in brian.spikes.values())


if __name__ == "__main__":
    torch.set_num_threads(1)
    results = {"mixed": compare(mixed_network(), 0.2),
               **{f"conductance_{u}": compare(conductance_network(u), 0.1) for u in ("dimensionless", "physical")}}
    print(json.dumps({"torch_capability": torch.backends.cpu.get_cpu_capability(),
                      "numpy_features": sorted(f for f, on in __cpu_features__.items() if on),
                      "results": results}))
