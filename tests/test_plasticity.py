"""STDP: identical weight trajectories on both backends, and the published window."""
import numpy as np
import pytest

import neuroai as na
from neuroai import cli
from neuroai.plasticity import STDP, TripletSTDP


def plastic_network(dependence: str, nearest: bool) -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 60, na.PoissonRate(40.0))
    net.add_population("p", 30, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=2))
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=3), name="ff",
                plasticity=STDP(a_plus=0.02, a_minus=0.021, w_max=0.5, dependence=dependence, nearest=nearest))
    # a recurrent, inhibitory, delayed plastic projection with its own time constants
    net.connect("p", "p", na.FixedProbability(0.2, allow_self=False, seed=4), weight=0.05, sign="inhibitory",
                delay=1e-3, name="rec",
                plasticity=STDP(a_plus=0.01, a_minus=0.012, w_max=0.2, dependence=dependence, tau_pre=15e-3))
    net.monitor("p")
    net.monitor("ff", "w", every=50)
    net.monitor("rec", "w", every=50)
    return net


@pytest.mark.parametrize("dependence, nearest", [("additive", False), ("multiplicative", True)])
def test_weight_trajectories_are_identical_on_both_backends(dependence, nearest):
    net = plastic_network(dependence, nearest)
    sims = [na.Simulator(net, "brian2", seed=1), na.Simulator(net, "torch", seed=1, dtype="float64")]
    brian, torch_ = (s.run(0.4) for s in sims)
    np.testing.assert_array_equal(brian.spikes["p"].steps, torch_.spikes["p"].steps)
    np.testing.assert_array_equal(brian.spikes["p"].indices, torch_.spikes["p"].indices)
    for key in ("ff.w", "rec.w"):
        a, b = brian.trace(key).values, torch_.trace(key).values
        np.testing.assert_array_equal(a, b, err_msg=key)
        assert np.abs(a[-1] - a[0]).mean() > 1e-3, f"{key}: the weights did not learn, the test is vacuous"
    # what the rule learned flows back into a description either backend can run
    learned = [s.to_network() for s in sims]
    np.testing.assert_array_equal(learned[0].projections["ff"].weights, learned[1].projections["ff"].weights)
    assert not np.array_equal(learned[0].projections["ff"].weights, net.projections["ff"].weights)


@pytest.fixture(scope="module")
def stdp_window():
    return cli.load("stdp_window")


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_pairing_protocol_reproduces_the_stdp_window(stdp_window, backend):
    rule = STDP(tau_pre=16.8e-3, tau_post=33.7e-3, a_plus=0.005, a_minus=0.00525)
    lags = np.array([-40e-3, -10e-3, -1e-4, 1e-4, 5e-3, 20e-3])
    # from the definition: a single pair changes w by A+ exp(-lag/tau_pre)
    # (post after pre) or -A- exp(lag/tau_post) (post before pre)
    expected = np.where(lags > 0, 0.005 * np.exp(-lags / 16.8e-3), -0.00525 * np.exp(lags / 33.7e-3))
    options = {"dtype": "float64"} if backend == "torch" else {}
    measured = stdp_window.pairing_changes(rule, lags, backend, **options)
    np.testing.assert_allclose(measured, expected, rtol=1e-9)


def test_multiplicative_rule_keeps_weights_inside_soft_bounds():
    net = plastic_network("multiplicative", False)
    result = na.Simulator(net, "torch", seed=2).run(0.3)
    w = result.trace("ff.w").values
    assert w.min() >= 0.0 and w.max() <= 0.5


def test_bad_plasticity_parameters_fail_at_creation():
    with pytest.raises(ValueError, match=r"STDP: w_max \(0.0\) must be >= w_min \(1.0\)"):
        STDP(w_min=1.0, w_max=0.0)
    with pytest.raises(ValueError, match="STDP: parameter 'tau_pre' must be > 0, got -0.02"):
        STDP(tau_pre=-0.02)
    net = na.Network(dt=1e-4)
    net.add_population("a", 3)
    with pytest.raises(ValueError, match=r"initial weights must lie within the rule's bounds \[0.0, 1.0\], got \[2.0, 2.0\]"):
        net.connect("a", "a", weight=2.0, plasticity=STDP())
    with pytest.raises(ValueError, match="with sign='inhibitory' weights are magnitudes, so the rule's w_min must be >= 0"):
        net.connect("a", "a", weight=0.5, sign="inhibitory", plasticity=STDP(w_min=-1.0))
    with pytest.raises(TypeError, match="'plasticity' must be one of \\['STDP', 'TripletSTDP'\\] or None, got str"):
        net.connect("a", "a", plasticity="stdp")
    with pytest.raises(ValueError, match="dt \\(0.0001 s\\) must be smaller than STDP tau_post"):
        net.connect("a", "a", weight=0.5, plasticity=STDP(tau_post=5e-5))


def test_stdp_window_simulation_matches_the_analytic_curve(stdp_window, tmp_path):
    record = cli.RunRecord("stdp_window", tmp_path)
    metrics = stdp_window.run(record, quick=True, seed=0)
    assert metrics["backends_identical"]
    assert metrics["max_error_brian2"] < 1e-9 and metrics["max_error_torch"] < 1e-9
    assert (record.path / "stdp_window.png").stat().st_size > 10_000


def test_triplet_rule_potentiates_at_high_pairing_frequency_where_pair_stdp_cannot(stdp_window):
    # Sjostrom et al. (2001): post-before-pre pairings depress at low
    # frequency but potentiate at 50 Hz. 15 pairs of each (frequency, lag).
    lags = np.array([10e-3, -10e-3, 10e-3, -10e-3])
    freqs = np.array([10.0, 10.0, 50.0, 50.0])
    triplet = {b: stdp_window.pairing_changes(TripletSTDP(), lags, b, pairs=15, frequencies=freqs, **opts)
               for b, opts in (("brian2", {}), ("torch", {"dtype": "float64"}))}
    np.testing.assert_array_equal(triplet["brian2"], triplet["torch"])
    dw = triplet["torch"]
    assert dw[1] < 0 < dw[3], "post-pre pairs: LTD at 10 Hz, LTP at 50 Hz"
    assert dw[0] > 0 and dw[2] > 0
    pair = stdp_window.pairing_changes(STDP(tau_pre=16.8e-3, tau_post=33.7e-3, a_plus=0.005, a_minus=0.00525),
                                       lags, "torch", pairs=15, frequencies=freqs, dtype="float64")
    assert pair[3] < 0, "pair STDP depresses post-pre pairs at any frequency"


def test_triplet_weight_trajectories_match_in_a_recurrent_network():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 40, na.PoissonRate(30.0))
    net.add_population("p", 25, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=2))
    rule = TripletSTDP(a3_plus=0.02, a2_minus=0.01, w_max=0.5)
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=3), plasticity=rule)
    net.connect("p", "p", na.FixedProbability(0.2, allow_self=False, seed=4), weight=0.05, delay=2e-3,
                plasticity=TripletSTDP(w_max=0.2))
    net.monitor("p")
    net.monitor("inp_to_p", "w", every=100)
    brian = na.Simulator(net, "brian2", seed=3).run(0.4)
    torch_ = na.Simulator(net, "torch", seed=3, dtype="float64").run(0.4)
    assert na.spike_agreement(brian, torch_, "p")[0] == brian.spike_count("p") == torch_.spike_count("p") > 0
    w = brian.trace("inp_to_p.w").values
    np.testing.assert_array_equal(w, torch_.trace("inp_to_p.w").values)
    assert np.abs(w[-1] - w[0]).mean() > 1e-3
