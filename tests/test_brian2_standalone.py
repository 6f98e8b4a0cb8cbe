"""Brian2's C++ standalone device as a third target of the brian2 backend.

Compiling a standalone project takes tens of seconds, so the module compiles
once: one network holding everything the Simulator.run path feeds Brian2
(Poisson input through a SpikeGeneratorGroup, exponential currents, a delayed
recurrent inhibitory projection, pair STDP, reward-modulated STDP reading a
signal through a TimedArray, spike, state and weight monitors), run on the
numpy target and on the standalone device with the same seed.
"""
import os
import tempfile

import brian2 as b2
import numpy as np
import pytest
from brian2.devices.device import runtime_device

import neuroai as na
from neuroai.plasticity import STDP, RewardSTDP, SynapticNormalization

pytestmark = pytest.mark.slow

DURATION = 0.3  # s: 3,000 steps


def standalone_network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_signal("reward")
    net.add_input("inp", 40, na.PoissonRate(max_rate=60.0))
    net.add_population("exc", 50, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=0))
    net.add_population("out", 20, na.LIF(tau_m=15e-3), v_init=na.Uniform(0, 1, seed=4))
    net.connect("inp", "exc", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.6, seed=2),
                synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.connect("exc", "exc", na.FixedProbability(0.2, allow_self=False, seed=3), weight=0.1, sign="inhibitory",
                delay=1e-3)
    net.connect("inp", "out", na.FixedProbability(0.5, seed=5), weight=na.Uniform(0.02, 0.12, seed=6),
                plasticity=STDP(a_plus=0.02, a_minus=0.021, w_max=0.5))
    net.connect("exc", "out", na.FixedProbability(0.3, seed=7), weight=na.Uniform(0.0, 0.05, seed=8),
                plasticity=RewardSTDP("reward", tau_c=0.1, eta=5.0, w_max=0.3))
    net.monitor("exc")
    net.monitor("out")
    net.monitor("exc", "v", every=3)
    net.monitor("exc", "I_exc", every=5)
    net.monitor("inp_to_out", "w", every=100)
    net.monitor("exc_to_out", "w", every=100)
    return net


REWARD = np.where(np.arange(round(DURATION / 1e-4)) >= 1500, 1.0, 0.0)  # reward in the second half


def _standalone_dirs():
    return {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("neuroai_brian2_")}


@pytest.fixture(scope="module")
def runs():
    """(numpy result, numpy Simulator, standalone result, standalone Simulator).
    The standalone run comes first, so the numpy run also checks that runtime Brian2 works after it."""
    net = standalone_network()
    dirs_before = _standalone_dirs()
    standalone = na.Simulator(net, "brian2", seed=7, target="cpp_standalone")
    res_standalone = standalone.run(DURATION, signals={"reward": REWARD})
    assert _standalone_dirs() == dirs_before, "the temporary project directory is removed after the run"
    numpy_sim = na.Simulator(net, "brian2", seed=7, target="numpy")
    res_numpy = numpy_sim.run(DURATION, signals={"reward": REWARD})
    return res_numpy, numpy_sim, res_standalone, standalone


def test_standalone_spikes_identical_and_traces_match_numpy(runs):
    a, _, b, _ = runs
    assert (b.backend, b.dt, b.start_step, b.n_steps) == (a.backend, a.dt, a.start_step, a.n_steps)
    for name in ("exc", "out"):
        sa, sb = a.spikes[name], b.spikes[name]
        assert sa.n == sb.n and sa.steps.dtype == sb.steps.dtype == sa.indices.dtype == sb.indices.dtype
        np.testing.assert_array_equal(sb.steps, sa.steps, err_msg=f"spike steps of {name}")
        np.testing.assert_array_equal(sb.indices, sa.indices, err_msg=f"spike neurons of {name}")
        assert 1 < a.rates(name).mean() < 200, f"population {name} silent or saturated: test is vacuous"
    assert set(a.traces) == set(b.traces)
    for key in a.traces:
        np.testing.assert_array_equal(b.trace(key).steps, a.trace(key).steps)
        assert b.trace(key).values.shape == a.trace(key).values.shape and b.trace(key).values.dtype == np.float64
    # Exactly what differs: the C++ program computes the exact integrator's decay factors with the C library's
    # exp(), the numpy target with numpy's, and the two round exp(-dt/tau_m) = exp(-0.01) one ulp apart (numpy 2
    # on an AVX-512 machine; exp(-0.02), the current's factor, and exp(-0.005), the STDP traces', agree).
    # A one-ulp difference in the factor c moves v by at most ulp(c) * max|v| / (1 - c) ~ 1.1e-14 (v <= v_th = 1
    # here), never near enough to a threshold to move a spike. Everything else comes out bit for bit (the
    # backend compiles with -ffp-contract=off: fused multiply-adds would move the STDP weights by an ulp).
    np.testing.assert_allclose(b.trace("exc.v").values, a.trace("exc.v").values, rtol=0, atol=5e-14)
    for key in ("exc.I_exc", "inp_to_out.w", "exc_to_out.w"):
        np.testing.assert_array_equal(b.trace(key).values, a.trace(key).values, err_msg=key)
    w = a.trace("exc_to_out.w").values
    assert np.array_equal(w[0], w[14]) and not np.array_equal(w[14], w[-1]), "reward-modulated STDP waits for reward"
    assert np.abs(a.trace("inp_to_out.w").values[-1] - a.trace("inp_to_out.w").values[0]).mean() > 1e-3


def test_standalone_to_network_holds_the_learned_weights(runs):
    _, numpy_sim, _, standalone = runs
    learned, reference = standalone.to_network(), numpy_sim.to_network()
    for name in ("inp_to_out", "exc_to_out"):
        np.testing.assert_array_equal(learned.projections[name].weights, reference.projections[name].weights)
    assert not np.array_equal(learned.projections["inp_to_out"].weights,
                              standalone.network.projections["inp_to_out"].weights)


def test_runtime_brian2_works_after_standalone(runs):
    a, _, _, _ = runs
    assert b2.get_device() is runtime_device
    assert b2.prefs["devices.cpp_standalone.openmp_threads"] == 0
    again = na.Simulator(standalone_network(), "brian2", seed=7, target="numpy").run(DURATION,
                                                                                     signals={"reward": REWARD})
    np.testing.assert_array_equal(again.spikes["exc"].steps, a.spikes["exc"].steps)
    np.testing.assert_array_equal(again.trace("exc.v").values, a.trace("exc.v").values)


def test_standalone_runs_once(runs):
    standalone = runs[3]
    with pytest.raises(RuntimeError, match="runs once per Simulator.*Use target='cython' for segment-by-segment"):
        standalone.run(0.01)
    assert standalone.t == pytest.approx(DURATION)


def test_standalone_refuses_trials_normalization_and_misplaced_options():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 4, na.PoissonRate(50.0))
    net.add_population("p", 3, na.LIF())
    net.connect("inp", "p", weight=0.2, name="ff")
    net.monitor("p")
    sim = na.Simulator(net, "brian2", target="cpp_standalone")
    with pytest.raises(NotImplementedError, match="cannot run independent trials.*Use target='cython'"):
        sim.present({"inp": np.ones((2, 4))}, 0.01, independent=True)
    assert sim.to_network().projections["ff"].weights.tolist() == [0.2] * 12  # not run: the starting weights
    plastic = na.Network(dt=1e-4)
    plastic.add_input("inp", 4, na.PoissonRate(50.0))
    plastic.add_population("p", 3, na.LIF())
    plastic.connect("inp", "p", weight=0.2, name="learned", plasticity=STDP(),
                    normalization=SynapticNormalization(total=0.5))
    with pytest.raises(NotImplementedError, match=r"cannot run synaptic normalization \(projections \['learned'\]\)"):
        na.Simulator(plastic, "brian2", target="cpp_standalone")
    with pytest.raises(ValueError, match="'directory' and 'threads' apply to target='cpp_standalone' only"):
        na.Simulator(net, "brian2", target="numpy", threads=2)
    with pytest.raises(ValueError, match="'threads' must be an integer >= 1, got 0"):
        na.Simulator(net, "brian2", target="cpp_standalone", threads=0)
    assert b2.get_device() is runtime_device


def test_failed_standalone_build_restores_the_runtime_device(monkeypatch):
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    def failing_build(self, **kwargs):
        raise RuntimeError("compiler exploded")

    monkeypatch.setattr(CPPStandaloneDevice, "build", failing_build)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 4, na.PoissonRate(50.0))
    net.add_population("p", 3, na.LIF())
    net.connect("inp", "p", weight=0.2)
    net.monitor("p")
    dirs_before = _standalone_dirs()
    sim = na.Simulator(net, "brian2", target="cpp_standalone", threads=3)
    with pytest.raises(RuntimeError, match="compiler exploded"):
        sim.run(0.01)
    assert b2.get_device() is runtime_device and _standalone_dirs() == dirs_before
    assert b2.prefs["devices.cpp_standalone.openmp_threads"] == 0
    assert "-ffp-contract=off" not in b2.prefs["codegen.cpp.extra_compile_args_gcc"]
    with pytest.raises(RuntimeError, match=r"has already run \(and failed\)"):
        sim.run(0.01)
    monkeypatch.undo()
    res = na.Simulator(net, "brian2", target="numpy").run(0.01)  # runtime Brian2 still works
    assert res.spikes["p"].n == 3
