"""The front end: parts are resolved once, deterministically, and validated."""
import numpy as np
import pytest

import neuroai as na


def test_connectivity_patterns_resolve_to_sorted_synapses():
    net = na.Network()
    net.add_population("p", 5)
    all_ = net.connect("p", "p", na.AllToAll(allow_self=False))
    assert all_.n_synapses == 20 and not np.any(all_.pre_idx == all_.post_idx)
    one = net.connect("p", "p", na.OneToOne())
    np.testing.assert_array_equal(one.pre_idx, np.arange(5))
    np.testing.assert_array_equal(one.post_idx, np.arange(5))
    mask = np.zeros((5, 5), bool)
    mask[0, 4] = mask[3, 1] = True
    exp = net.connect("p", "p", na.Explicit(mask))
    assert list(zip(exp.pre_idx, exp.post_idx)) == [(0, 4), (3, 1)]
    assert [p.name for p in net.projections.values()] == ["p_to_p", "p_to_p_2", "p_to_p_3"]


def test_fixed_probability_is_seeded_and_has_the_right_density():
    net = na.Network()
    net.add_population("a", 300)
    p1 = net.connect("a", "a", na.FixedProbability(0.1, seed=7))
    p2 = net.connect("a", "a", na.FixedProbability(0.1, seed=7))
    p3 = net.connect("a", "a", na.FixedProbability(0.1, seed=8))
    np.testing.assert_array_equal(p1.post_idx, p2.post_idx)
    assert not np.array_equal(p1.post_idx[:50], p3.post_idx[:50])
    assert abs(p1.n_synapses / 300**2 - 0.1) < 0.01


def test_fixed_probability_draws_each_pair_independently_with_probability_p():
    hits = np.zeros((20, 30))
    for seed in range(2000):
        pre, post = na.FixedProbability(0.3, allow_self=False, seed=seed).resolve(20, 30)
        assert np.all(np.diff(pre * 30 + post) > 0)  # sorted by (pre, post), no pair twice
        hits[pre, post] += 1
    off = ~np.eye(20, 30, dtype=bool)
    assert hits[~off].sum() == 0
    freq = hits[off] / 2000  # each pair: Binomial(2000, 0.3) / 2000, sd 0.0102
    assert abs(freq.mean() - 0.3) < 0.002 and 0.008 < freq.std() < 0.0125
    # the first and last pairs are as likely as any (no edge effect of the sequential draw)
    assert abs(hits[0, 0 + 1] / 2000 - 0.3) < 0.05 and abs(hits[-1, -1] / 2000 - 0.3) < 0.05
    # a large sparse projection is drawn without an (n_pre, n_post) matrix: 40,000 x 40,000 at p = 1e-3
    pre, post = na.FixedProbability(1e-3, seed=1).resolve(40_000, 40_000)
    assert abs(len(pre) - 1.6e6) < 5 * np.sqrt(1.6e6) and post.max() < 40_000 and pre.max() < 40_000
    # a p so small that numpy's geometric gaps saturate at 2**63 - 1 (their sum would overflow): no synapse,
    # and 1e9 pairs at p = 1e-9 give about one, as Bernoulli trials would (Poisson(1): 6 or more has p < 6e-4)
    assert all(len(na.FixedProbability(p, seed=2).resolve(1000, 1000)[0]) == 0 for p in (5e-324, 1e-300, 1e-18))
    assert len(na.FixedProbability(1e-9, seed=3).resolve(40_000, 25_000)[0]) < 6


def test_weights_from_matrix_initializer_and_sign():
    net = na.Network()
    net.add_population("a", 3)
    net.add_population("b", 2)
    W = np.arange(6.0).reshape(3, 2)
    proj = net.connect("a", "b", weight=W)
    np.testing.assert_array_equal(proj.weights, W[proj.pre_idx, proj.post_idx])
    inh = net.connect("a", "b", weight=na.Uniform(0.2, 0.4, seed=3), sign="inhibitory")
    assert np.all((inh.weights >= 0.2) & (inh.weights < 0.4))
    np.testing.assert_array_equal(inh.signed_weights, -inh.weights)
    again = net.connect("a", "b", weight=na.Uniform(0.2, 0.4, seed=3))
    np.testing.assert_array_equal(again.weights, inh.weights)


def test_a_delay_between_whole_steps_is_an_error_unless_rounding_is_asked_for():
    net = na.Network(dt=1e-4)
    net.add_population("a", 2)
    with pytest.raises(ValueError, match=r"'delay' must be a whole number of steps of dt=0.0001 s \(the nearest "
                                         r"are 0.0012 s = 12 steps and 0.0013 s = 13 steps; or pass "
                                         r"round_delay=True to round it\), got 0.00125 s"):
        net.connect("a", "a", delay=1.25e-3)
    assert net.connect("a", "a", delay=1.25e-3, round_delay=True).delay_steps == 13  # halves round up
    assert net.connect("a", "a", delay=0.4e-4, round_delay=True).delay_steps == 0
    assert net.connect("a", "a", delay=3e-4).delay_steps == 3  # (0.0003 / 0.0001 = 2.9999999999999996)
    with pytest.raises(ValueError, match="at most 2147483647 steps"):
        net.connect("a", "a", delay=1e9)
    with pytest.raises(TypeError, match="'round_delay' must be True or False"):
        net.connect("a", "a", delay=1e-3, round_delay="yes")


def test_delay_in_whole_steps_and_currents_are_grouped():
    net = na.Network(dt=1e-4)
    net.add_population("a", 2, na.LIF(tau_m=10e-3))
    p = net.connect("a", "a", delay=1.3e-3, synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    net.connect("a", "a", synapse=na.ExponentialCurrent(2e-3, "I_inh"), sign="inhibitory")
    net.connect("a", "a", synapse=na.ExponentialCurrent(5e-3, "I_exc"))
    assert p.delay_steps == 13
    assert net.currents("a") == (("I_exc", 5e-3), ("I_inh", 2e-3))
    assert net.recordable("a") == ("spikes", "v", "I_exc", "I_inh")
    assert net.features() == {"LIF", "ExponentialCurrent", "delay"}


def test_with_weights_returns_an_updated_copy():
    net = na.Network()
    net.add_population("a", 2)
    net.connect("a", "a", weight=0.5, sign="excitatory", name="rec")
    new = net.with_weights({"rec": [0.1, 0.2, 0.3, 0.4]})
    np.testing.assert_array_equal(new.projections["rec"].weights, [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(net.projections["rec"].weights, 0.5)
    with pytest.raises(ValueError, match="magnitudes >= 0"):
        net.with_weights({"rec": [-0.1, 0.2, 0.3, 0.4]})


def test_lif_propagators_are_the_exact_solution():
    lif = na.LIF(tau_m=20e-3, v_rest=0.1, R=2.0, i_bias=0.3)
    dt, tau_s = 1e-4, 5e-3
    a, e_m, (c,), (e,) = lif.propagators(dt, (tau_s,))
    # closed-form solution of tau_m dv/dt = v_rest - v + R*(i_bias + I), tau_s dI/dt = -I
    v0, I0 = 0.7, 0.9
    v_exact = (lif.v_rest + lif.R * lif.i_bias + (v0 - lif.v_rest - lif.R * lif.i_bias) * np.exp(-dt / 20e-3)
               + lif.R * I0 * tau_s / (20e-3 - tau_s) * (np.exp(-dt / 20e-3) - np.exp(-dt / tau_s)))
    assert a + (c * I0 + e_m * v0) == pytest.approx(v_exact, rel=1e-12)
    assert e == pytest.approx(np.exp(-dt / tau_s))


def test_brian2_quantities_are_accepted_wherever_a_parameter_is_an_si_float():
    import brian2 as b2

    from neuroai.plasticity import STDP

    lif = na.LIF.physical(tau_m=20 * b2.ms, v_th=-50 * b2.mV, R=100 * b2.Mohm, i_bias=0.1 * b2.nA, t_ref=2 * b2.ms)
    assert (lif.tau_m, lif.v_th, lif.R, lif.i_bias, lif.t_ref) == pytest.approx((20e-3, -50e-3, 1e8, 1e-10, 2e-3))
    assert na.AdEx(C=200 * b2.pF, g_L=10 * b2.nS).C == pytest.approx(200e-12)
    assert na.ExponentialConductance(5 * b2.ms, -80 * b2.mV, "g_inh").E_rev == pytest.approx(-80e-3)
    assert na.PoissonRate(40 * b2.Hz).max_rate == pytest.approx(40.0)
    assert STDP(tau_pre=15 * b2.ms, a_plus=0.1 * b2.mV, w_max=2 * b2.mV).tau_pre == pytest.approx(15e-3)
    net = na.Network(dt=0.1 * b2.ms)
    assert net.dt == pytest.approx(1e-4)
    net.add_input("inp", 3)
    net.add_population("p", 2, lif)
    proj = net.connect("inp", "p", weight=1 * b2.mV, delay=1 * b2.ms)
    assert proj.delay_steps == 10 and proj.weights == pytest.approx(1e-3)
    assert na.Simulator(net, "torch").run(5 * b2.ms).n_steps == 50
    with pytest.raises(ValueError, match="LIF: parameter 'tau_m' must be in units of second, got 20. mV"):
        na.LIF(tau_m=20 * b2.mV)
    with pytest.raises(ValueError, match="LIF: parameter 'v_th' must be a plain number, got 1. mV"):
        na.LIF(v_th=1 * b2.mV)  # a dimensionless LIF: v is a plain number
    with pytest.raises(ValueError, match="PoissonRate: parameter 'max_rate' must be in units of hertz"):
        na.PoissonRate(40 * b2.ms)


def test_repr_is_a_short_summary_without_arrays():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 1000, na.PoissonRate(40.0))
    net.add_population("exc", 2000, na.LIF(), v_init=na.Uniform(0, 1, seed=0))
    net.connect("inp", "exc", na.FixedProbability(0.1, seed=1), weight=0.2, plasticity=na.plasticity.STDP(),
                delay=1e-3)
    net.monitor("exc")
    text = repr(net)
    assert len(text) < 600 and "array" not in text, text
    proj = net.projections["inp_to_exc"]
    for part in ("1 input", "'inp': 1000 x PoissonRate", "'exc': 2000 x LIF", f"{proj.n_synapses} synapses",
                 "delay 10 steps", "STDP", "monitor exc.spikes"):
        assert part in text, part
