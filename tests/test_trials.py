"""Independent trials (Simulator.present(independent=True)) and the state a
Network carries from one simulation to the next (learned thresholds)."""
import numpy as np
import pytest

import neuroai as na


def adaptive_net(seed=0, theta=None):
    net = na.Network(dt=1e-3)
    net.add_input("inp", 20, na.PoissonRate(max_rate=200.0))
    net.add_population("out", 8, na.AdaptiveLIF(tau_m=20e-3, theta_plus=0.2, tau_theta=1.0, t_ref=2e-3),
                       init=None if theta is None else {"theta": theta})
    net.connect("inp", "out", weight=na.Uniform(0.0, 0.4, seed=seed))
    net.monitor("out")
    return net


def test_independent_trials_agree_across_backends_and_equal_fresh_runs():
    net = adaptive_net()
    stimuli = np.random.default_rng(1).uniform(0, 1, (5, 20))
    runs = {b: na.Simulator(net, b, seed=3, **({"dtype": "float64"} if b == "torch" else {}))
            for b in ("brian2", "torch")}
    res = {b: sim.present({"inp": stimuli}, 0.05, 0.01, independent=True) for b, sim in runs.items()}
    counts = res["torch"].window_counts("out")
    np.testing.assert_array_equal(res["brian2"].window_counts("out"), counts)
    assert counts.sum() > 0
    for b, sim in runs.items():  # neither the time nor the state moved
        assert sim.t == 0.0


def test_each_trial_equals_a_fresh_run_of_its_stimulus():
    net = na.Network(dt=1e-3)
    net.add_input("inp", 20, na.RegularRate(max_rate=300.0))  # deterministic input
    net.add_population("out", 8, na.AdaptiveLIF(tau_m=20e-3, theta_plus=0.2, tau_theta=1.0))
    net.connect("inp", "out", weight=na.Uniform(0.0, 0.4, seed=0))
    net.monitor("out")
    stimuli = np.random.default_rng(1).uniform(0, 1, (4, 20))
    trials = na.Simulator(net, "torch", dtype="float64").present({"inp": stimuli}, 0.04, independent=True)
    fresh = [na.Simulator(net, "torch", dtype="float64").run(0.04, {"inp": x}).rates("out") * 0.04 for x in stimuli]
    np.testing.assert_array_equal(trials.window_counts("out"), np.array(fresh))


def test_recorded_spike_trials_are_presented_as_independent_trials():
    net = na.Network(dt=1e-3)
    net.add_input("rec", 6, na.SpikeArray())
    net.add_population("out", 4, na.LIF(tau_m=10e-3))
    net.connect("rec", "out", weight=na.Uniform(0.3, 0.8, seed=0))
    net.monitor("out")
    trials = np.random.default_rng(2).random((5, 30, 6)) < 0.3  # (trial, step, neuron)
    results = {b: na.Simulator(net, b, **({"dtype": "float64"} if b == "torch" else {}))
               .present({"rec": trials}, 0.03, 0.01, independent=True) for b in ("brian2", "torch")}
    counts = results["torch"].window_counts("out")
    np.testing.assert_array_equal(results["brian2"].window_counts("out"), counts)
    fresh = [na.Simulator(net, "torch", dtype="float64").run(0.03, {"rec": x}).rates("out") * 0.03 for x in trials]
    np.testing.assert_array_equal(counts, np.array(fresh))
    assert counts.sum() > 0 and len(np.unique(counts.sum(1))) > 1  # trials differ
    with pytest.raises(ValueError, match=r"stimuli for input 'rec' must have shape \(n_samples, 30, 6\)"):
        na.Simulator(net, "torch").present({"rec": trials[:, :20]}, 0.03, independent=True)


def test_trials_start_from_the_present_state_and_do_not_change_it():
    net = adaptive_net()
    x = np.full((3, 20), 0.8)
    sim = na.Simulator(net, "torch", seed=0, dtype="float64")
    first = sim.present({"inp": x}, 0.05, independent=True).window_counts("out")
    sim.run(0.5)  # thresholds adapt: the neurons become harder to excite
    later = sim.present({"inp": x}, 0.05, independent=True).window_counts("out")
    again = sim.present({"inp": x}, 0.05, independent=True).window_counts("out")
    assert later.sum() < first.sum()
    assert abs(again.sum() - later.sum()) <= 0.25 * later.sum() + 3  # same state, fresh Poisson draws
    assert sim.t == pytest.approx(0.5)


def test_plastic_networks_refuse_independent_trials():
    net = na.Network(dt=1e-3)
    net.add_input("inp", 4)
    net.add_population("out", 2)
    net.connect("inp", "out", weight=0.5, plasticity=na.plasticity.STDP())
    with pytest.raises(ValueError, match="independent trials need fixed weights"):
        na.Simulator(net, "torch").present({"inp": np.ones((2, 4))}, 0.01, independent=True)
    frozen = net.without_plasticity()
    assert frozen.projections["inp_to_out"].plasticity is None and net.projections["inp_to_out"].plasticity
    na.Simulator(frozen, "torch").present({"inp": np.ones((2, 4))}, 0.01, independent=True)


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_to_network_carries_learned_thresholds(backend):
    sim = na.Simulator(adaptive_net(), backend, seed=0)
    sim.run(0.3)
    learned = sim.to_network().populations["out"].init["theta"]
    assert learned.shape == (8,) and learned.max() > 0.2  # several spikes' worth
    # a network started from them is as hard to excite as the trained one
    fresh = na.Simulator(adaptive_net(), backend, seed=5).run(0.2).spike_count("out")
    carried = na.Simulator(adaptive_net(theta=learned), backend, seed=5).run(0.2).spike_count("out")
    assert carried < fresh


def test_init_is_validated():
    net = na.Network(dt=1e-3)
    with pytest.raises(ValueError, match="'init' may set \\['theta'\\]"):
        net.add_population("p", 3, na.AdaptiveLIF(), init={"u": 1.0})
    with pytest.raises(ValueError, match="init\\['theta'\\]"):
        net.add_population("q", 3, na.AdaptiveLIF(), init={"theta": np.ones(4)})
    with pytest.raises(ValueError, match="'init' may set \\[\\]"):
        net.add_population("r", 3, na.LIF(), init={"theta": 0.1})


def test_conductances_must_be_nonnegative():
    net = na.Network(dt=1e-4)
    net.add_population("a", 3, na.LIF())
    with pytest.raises(ValueError, match="conductances are >= 0"):
        net.connect("a", "a", weight=0.1, synapse=na.ExponentialConductance(5e-3, -1.0, "g_i"), sign="inhibitory")
    with pytest.raises(ValueError, match="conductances are >= 0"):
        net.connect("a", "a", weight=-0.1, synapse=na.ExponentialConductance(5e-3, -1.0, "g_i"))
