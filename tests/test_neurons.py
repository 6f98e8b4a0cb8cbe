"""Neuron models: cross-backend parity and each model's characteristic behaviour."""
import numpy as np
import pytest

import neuroai as na
from neuroai import cli
from neuroai.neurons import AdaptiveLIF, AdEx, Izhikevich


def mixed_network() -> na.Network:
    """Izhikevich, AdEx and adaptive-threshold LIF populations, coupled by
    delta and current synapses, delays and inhibition."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 50, na.PoissonRate(50.0))
    net.add_population("rs", 40, Izhikevich.of_type("regular_spiking", i_bias=4.0), v_init=na.Uniform(-70, -60, seed=1))
    net.add_population("fs", 20, Izhikevich.of_type("fast_spiking", i_bias=2.0))
    net.add_population("adex", 30, AdEx(i_bias=0.3e-9, b=40e-12), v_init=na.Uniform(-70e-3, -55e-3, seed=2))
    net.add_population("alif", 30, AdaptiveLIF(t_ref=2e-3, theta_plus=0.05, tau_theta=0.2, reset="subtract"),
                       v_init=na.Uniform(0, 1, seed=3))
    net.connect("inp", "rs", na.FixedProbability(0.3, seed=4), weight=3.0)
    net.connect("inp", "fs", na.FixedProbability(0.3, seed=5), weight=2.0, synapse=na.ExponentialCurrent(5e-3, "I_ampa"))
    net.connect("rs", "fs", na.FixedProbability(0.2, seed=6), weight=1.0, synapse=na.ExponentialCurrent(3e-3, "I_b"),
                delay=1e-3)
    net.connect("fs", "rs", na.FixedProbability(0.3, seed=7), weight=2.0, sign="inhibitory")
    net.connect("inp", "adex", na.FixedProbability(0.3, seed=8), weight=0.2e-9,
                synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.connect("adex", "adex", na.FixedProbability(0.1, seed=9), weight=2e-3, delay=0.5e-3)
    net.connect("inp", "alif", na.FixedProbability(0.3, seed=10), weight=0.2)
    net.connect("alif", "alif", na.FixedProbability(0.1, allow_self=False, seed=11), weight=0.05,
                synapse=na.ExponentialCurrent(5e-3, "I_rec"))
    for pop in ("rs", "fs", "adex", "alif"):
        net.monitor(pop)
    for key in ("rs.u", "fs.v", "adex.w", "adex.v", "alif.theta"):
        net.monitor(*key.split("."), every=10)
    return net


def test_every_model_matches_bit_for_bit_across_backends():
    net = mixed_network()
    brian = na.Simulator(net, "brian2", seed=1).run(0.2)  # (115 to 1,541 spikes per population)
    torch_ = na.Simulator(net, "torch", seed=1, dtype="float64").run(0.2)
    for pop in ("rs", "fs", "adex", "alif"):
        matched, n_a, n_b = na.spike_agreement(brian, torch_, pop)
        assert matched == n_a == n_b > 20, pop
    for key in brian.traces:
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values, err_msg=key)


def test_izhikevich_patterns_show_their_published_signatures(tmp_path):
    module = cli.load("izhikevich_patterns")
    metrics = module.run(cli.RunRecord("izhikevich_patterns", tmp_path), quick=True, seed=0)
    assert metrics.pop("backends_identical")
    assert metrics == {name: True for name in metrics} and len(metrics) == 6


def test_izhikevich_rest_is_a_fixed_point():
    model = Izhikevich.of_type("regular_spiking")
    assert model.v_start == pytest.approx(-70.0)  # root of 0.04 v^2 + 4.8 v + 140
    net = na.Network(dt=1e-4)
    net.add_population("n", 1, model)
    net.monitor("n", "v", every=100)
    v = na.Simulator(net, "torch", dtype="float64").run(0.2).trace("n.v").values
    np.testing.assert_allclose(v, -70.0, atol=1e-9)


def test_adex_adaptation_lengthens_interspike_intervals():
    net = na.Network(dt=5e-5)
    net.add_population("adapting", 1, AdEx(i_bias=0.5e-9, b=60e-12, tau_w=100e-3))
    net.add_population("plain", 1, AdEx(i_bias=0.5e-9, a=0.0, b=0.0))
    net.monitor("adapting")
    net.monitor("plain")
    result = na.Simulator(net, "torch", dtype="float64").run(0.5)
    isi = np.diff(result.spike_times("adapting"))
    assert len(isi) > 5 and isi[-1] > 2 * isi[0]
    plain = np.diff(result.spike_times("plain"))
    np.testing.assert_allclose(plain[1:], plain[1], rtol=1e-3)  # no adaptation: regular firing


def test_adaptive_threshold_rises_with_activity_and_slows_firing():
    net = na.Network(dt=1e-4)
    net.add_population("alif", 2, AdaptiveLIF(i_bias=1.5, theta_plus=0.1, tau_theta=1.0))
    net.add_population("lif", 2, na.LIF(i_bias=1.5))
    for pop in ("alif", "lif"):
        net.monitor(pop)
    net.monitor("alif", "theta", every=100)
    result = na.Simulator(net, "brian2").run(1.0)
    theta = result.trace("alif.theta").values[:, 0]
    assert theta[0] == 0 and theta[-1] > 0.1
    times = result.spike_times("alif")[result.spike_indices("alif") == 0]
    assert np.diff(times)[-1] > 1.5 * np.diff(times)[0]
    assert result.spike_count("alif") < 0.7 * result.spike_count("lif")


@pytest.mark.parametrize("make, text", [
    (lambda: Izhikevich(a=-0.1), "Izhikevich: parameter 'a' must be > 0, got -0.1"),
    (lambda: Izhikevich.of_type("pyramidal"), "parameter 'name' must be one of"),
    (lambda: AdEx(C=-1e-12), "AdEx: parameter 'C' must be > 0"),
    (lambda: AdEx(v_peak=-60e-3), "AdEx: v_peak \\(-0.06\\) must be greater than v_T \\(-0.05\\)"),
    (lambda: AdaptiveLIF(tau_theta=0.0), "AdaptiveLIF: parameter 'tau_theta' must be > 0"),
    (lambda: na.Network(dt=2e-3).add_population("p", 1, Izhikevich()), "must be at most 1 ms"),
])
def test_bad_model_parameters(make, text):
    with pytest.raises((ValueError, TypeError), match=text):
        make()


def test_hodgkin_huxley_rests_overshoots_and_starts_firing_at_a_high_rate():
    from neuroai.neurons import HodgkinHuxley
    net = na.Network(dt=5e-5)
    currents = [0.0, 0.5e-9, 1.5e-9, 3e-9]  # A, on a 20,000 um^2 patch
    for k, current in enumerate(currents):
        net.add_population(f"n{k}", 1, HodgkinHuxley(i_bias=current))
        net.monitor(f"n{k}")
        net.monitor(f"n{k}", "v", every=5)
    duration = 0.1  # s: 6 and 8 spikes at 1.5 and 3 nA
    result = na.Simulator(net, "brian2").run(duration)
    rest = result.trace("n0.v").values
    assert result.spike_count("n0") == 0 and np.abs(rest + 65e-3).max() < 1e-3
    assert result.spike_count("n1") <= 1  # below the threshold of repetitive firing
    rates = [result.spike_count(f"n{k}") / duration for k in (2, 3)]
    assert 40 < rates[0] < rates[1], "class-2 excitability: repetitive firing starts at a high rate"
    v = result.trace("n3.v").values
    assert v.max() > 20e-3 and v.min() < -70e-3  # overshoot and after-hyperpolarization


def test_hodgkin_huxley_is_brian2_only_and_says_so():
    from neuroai.neurons import HodgkinHuxley
    net = na.Network(dt=2e-5)
    net.add_population("hh", 1, HodgkinHuxley())
    with pytest.raises(NotImplementedError, match=r"'torch' does not support \['HodgkinHuxley'\]; backends that do: \['brian2'\]"):
        na.Simulator(net, "torch")
    with pytest.raises(ValueError, match="must be at most 5e-05 s for Hodgkin-Huxley"):
        na.Network(dt=1e-4).add_population("hh", 1, HodgkinHuxley())


def conductance_network(units: str) -> na.Network:
    """LIF populations fed by three conductances (exponential-Euler steps) and a current."""
    physical = units == "physical"
    model = na.LIF.physical(t_ref=2e-3) if physical else na.LIF(t_ref=2e-3)
    v0 = na.Uniform(-70e-3, -55e-3, seed=1) if physical else na.Uniform(0, 1, seed=1)
    E_exc, E_inh = (0.0, -80e-3) if physical else (5.0, -1.0)
    w_exc, w_inh, w_cur = (3e-9, 5e-9, 0.1e-9) if physical else (0.3, 0.5, 0.1)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 60, na.PoissonRate(40.0))
    net.add_population("e", 80, model, v_init=v0)
    net.add_population("i", 20, model, v_init=v0)
    exc, inh = na.ExponentialConductance(5e-3, E_exc, "g_exc"), na.ExponentialConductance(10e-3, E_inh, "g_inh")
    net.connect("inp", "e", na.FixedProbability(0.2, seed=2), weight=w_exc, synapse=exc)
    net.connect("inp", "e", na.FixedProbability(0.1, seed=6), weight=w_exc / 2,
                synapse=na.ExponentialConductance(50e-3, E_exc, "g_nmda"))
    net.connect("inp", "e", na.FixedProbability(0.1, seed=5), weight=w_cur, synapse=na.ExponentialCurrent(3e-3, "I_x"))
    net.connect("e", "i", na.FixedProbability(0.2, seed=3), weight=w_exc, synapse=exc, delay=1e-3)
    net.connect("i", "e", na.FixedProbability(0.3, seed=4), weight=w_inh, synapse=inh)
    net.monitor("e")
    net.monitor("i")
    net.monitor("e", "v", every=10)
    net.monitor("e", "g_inh", every=10)
    return net


@pytest.mark.parametrize("units", ["dimensionless", "physical"])
def test_conductance_synapses_match_bit_for_bit(units):
    net = conductance_network(units)
    brian = na.Simulator(net, "brian2", seed=1).run(0.2)
    torch_ = na.Simulator(net, "torch", seed=1, dtype="float64").run(0.2)
    for pop in ("e", "i"):
        assert na.spike_agreement(brian, torch_, pop)[0] == brian.spike_count(pop) == torch_.spike_count(pop) > 30
    for key in ("e.v", "e.g_inh"):
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values)


def test_conductances_pull_v_towards_their_reversal_potential():
    # a strong, steady inhibitory conductance clamps v near E_inh: shunting
    net = na.Network(dt=1e-4)
    net.add_input("inh", 50, na.RegularRate(max_rate=200.0))
    net.add_population("p", 1, na.LIF(i_bias=0.5), v_init=0.4)
    net.connect("inh", "p", weight=0.5, synapse=na.ExponentialConductance(10e-3, E_rev=-0.5, conductance="g_inh"))
    net.monitor("p", "v", every=10)
    v = na.Simulator(net, "torch", dtype="float64").run(0.3).trace("p.v").values[-10:, 0]
    # steady state: v = (v_rest + R*(i_bias + g*E)) / (1 + R*g) with g = 50 inputs * 200 Hz * 0.5 * 10 ms
    g = 50 * 200.0 * 0.5 * 10e-3
    np.testing.assert_allclose(v.mean(), (0.5 + g * -0.5) / (1 + g), atol=0.02)


def test_conductance_errors():
    net = na.Network(dt=1e-4)
    net.add_population("izh", 2, Izhikevich())
    net.add_population("lif", 2)
    with pytest.raises(ValueError, match="ExponentialConductance targets LIF populations; population 'izh' is Izhikevich"):
        net.connect("lif", "izh", synapse=na.ExponentialConductance())
    net.connect("lif", "lif", synapse=na.ExponentialConductance(5e-3, 0.0, "g_e"))
    with pytest.raises(ValueError, match="conductance 'g_e' of population 'lif' already has tau=0.005 s and E_rev=0.0"):
        net.connect("lif", "lif", synapse=na.ExponentialConductance(5e-3, -1.0, "g_e"))
    with pytest.raises(ValueError, match="'g_e' is already a conductance of population 'lif'"):
        net.connect("lif", "lif", synapse=na.ExponentialCurrent(5e-3, "g_e"))
