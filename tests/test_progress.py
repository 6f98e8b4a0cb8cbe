"""Simulator.run(progress=True): a progress bar, and the very numbers of a run without one."""
import numpy as np
import pytest

import neuroai as na

pytestmark = pytest.mark.usefixtures("one_thread")


def network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 30, na.PoissonRate(50.0))
    net.add_population("p", 20, na.LIF(t_ref=2e-3), v_init=na.Uniform(0, 1, seed=0))
    net.connect("inp", "p", na.FixedProbability(0.3, seed=1), weight=na.Uniform(0.1, 0.4, seed=2), name="ff",
                plasticity=na.plasticity.STDP(), delay=1e-3)
    net.connect("p", "p", na.FixedProbability(0.2, allow_self=False, seed=3), weight=0.2,
                synapse=na.ExponentialCurrent(5e-3, "I_rec"), delay=2e-3)
    net.monitor("p")
    net.monitor("p", "v", every=7)
    net.monitor("ff", "w", every=50)
    return net


@pytest.mark.parametrize("backend, options", [("brian2", {}), ("torch", {"dtype": "float64"})])
def test_a_run_with_a_progress_bar_gives_the_same_numbers(backend, options, capsys):
    net = network()
    plain = na.Simulator(net, backend, seed=4, **options).run(0.1234)
    shown = na.Simulator(net, backend, seed=4, **options).run(0.1234, progress=True)
    assert "run" in capsys.readouterr().err  # tqdm's bar goes to stderr
    assert plain.spike_count("p") > 20
    np.testing.assert_array_equal(plain.spikes["p"].steps, shown.spikes["p"].steps)
    np.testing.assert_array_equal(plain.spikes["p"].indices, shown.spikes["p"].indices)
    for key in plain.traces:
        np.testing.assert_array_equal(plain.trace(key).steps, shown.trace(key).steps, err_msg=key)
        np.testing.assert_array_equal(plain.trace(key).values, shown.trace(key).values, err_msg=key)
