"""STDP: identical weight trajectories on both backends, and the published window."""
import numpy as np
import pytest

import neuroai as na
from neuroai import cli
from neuroai.plasticity import BCM, STDP, Hebbian, Oja, RewardSTDP, SynapticNormalization, TripletSTDP


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


@pytest.mark.parametrize("rule, model", [
    (STDP(dependence="multiplicative", a_plus=0.05, a_minus=0.05, w_max=4e-3), na.LIF.physical()),
    (STDP(dependence="multiplicative", a_plus=0.05, a_minus=0.05, w_max=0.4e-9), na.AdEx(i_bias=0.15e-9)),
    (TripletSTDP(a2_plus=1e-4, a3_plus=2e-4, a2_minus=2e-4, a3_minus=1e-5, w_max=4e-3), na.LIF.physical()),
    (BCM(eta=1e-6, w_max=0.5), na.AdaptiveLIF(tau_m=10e-3, theta_plus=0.05, tau_theta=0.1)),
], ids=["multiplicative-LIF.physical", "multiplicative-AdEx", "triplet-LIF.physical", "BCM-AdaptiveLIF"])
def test_rules_onto_every_target_they_accept_run_identically(rule, model):
    """Amplitudes carry the units the rule's equations need on Brian2 (once a
    units error at run time), and rule variables never clash with the target's."""
    current = isinstance(model, na.AdEx)
    net = na.Network(dt=1e-4)
    net.add_input("inp", 40, na.PoissonRate(80.0))
    net.add_population("p", 10, model, v_init=model.v_start)
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0, rule.w_max / 2, seed=2),
                synapse=na.ExponentialCurrent(5e-3, "I_exc") if current else None, plasticity=rule, name="ff")
    net.monitor("p")
    net.monitor("ff", "w", every=100)
    brian, torch_ = (na.Simulator(net, b, seed=1, **o).run(0.3)
                     for b, o in (("brian2", {}), ("torch", {"dtype": "float64"})))
    assert brian.spike_count("p") == torch_.spike_count("p") > 10
    w = brian.trace("ff.w").values
    np.testing.assert_array_equal(w, torch_.trace("ff.w").values)
    assert np.abs(w[-1] - w[0]).max() > 0.01 * rule.w_max, "the weights did not learn: the test is vacuous"


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
    with pytest.raises(TypeError, match="'plasticity' must be one of \\['STDP', 'TripletSTDP', 'RewardSTDP', 'Hebbian', 'Oja', 'BCM'\\] or None, got str"):
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


def reward_network() -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_signal("dopamine")
    net.add_input("inp", 40, na.PoissonRate(30.0))
    net.add_population("p", 20, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=2))
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=3), name="ff",
                plasticity=RewardSTDP("dopamine", tau_c=0.2, eta=5.0, w_max=0.5))
    net.connect("p", "p", na.FixedProbability(0.2, allow_self=False, seed=4), weight=0.05, delay=1e-3, name="rec",
                plasticity=RewardSTDP("dopamine", tau_c=0.1, eta=2.0, w_max=0.2))
    net.monitor("p")
    net.monitor("ff", "w", every=100)
    net.monitor("rec", "w", every=100)
    return net


def test_reward_stdp_trajectories_match_and_wait_for_reward():
    net = reward_network()
    reward = np.zeros(4000)
    reward[1000:1100], reward[2500:2600] = 1.0, -0.5
    runs = []
    for backend, opts in (("brian2", {}), ("torch", {"dtype": "float64"})):
        sim = na.Simulator(net, backend, seed=1, **opts)
        runs.append((sim.run(0.4, signals={"dopamine": reward}), sim.run(0.1, signals={"dopamine": 0.3})))
    for segment in range(2):
        a, b = runs[0][segment], runs[1][segment]
        assert na.spike_agreement(a, b, "p")[0] == a.spike_count("p") == b.spike_count("p") > 0
        for key in ("ff.w", "rec.w"):
            np.testing.assert_array_equal(a.trace(key).values, b.trace(key).values)
    w = runs[0][0].trace("ff.w").values  # samples every 10 ms
    assert np.array_equal(w[0], w[10]), "no reward yet, so no weight change"
    assert np.abs(w[-1] - w[0]).mean() > 1e-4


@pytest.mark.parametrize("backend", ["brian2", "torch"])
def test_delayed_reward_credits_the_eligible_synapse(backend):
    # Synapse 0: pre 10 ms before post (eligible for potentiation); synapse 1:
    # post 10 ms before pre (eligible for depression). Reward arrives 250 ms
    # later: dw = eta dt sum_m r c0 e_c^(m - m_post), with c0 from the pair.
    dt, rule = 1e-4, RewardSTDP("reward", tau_c=0.5, eta=2.0, a_plus=0.01, a_minus=0.012, w_max=1.0)
    steps, m_pre, lag = 4000, 500, 100
    pre, drive = np.zeros((steps, 2), bool), np.zeros((steps, 2), bool)
    pre[m_pre, 0], drive[m_pre + lag - 1, 0] = True, True      # post fires at m_pre + lag
    pre[m_pre + lag, 1], drive[m_pre - 1, 1] = True, True      # post fires at m_pre, pre 10 ms later
    reward = np.zeros(steps)
    reward[3000:3500] = 1.0
    net = na.Network(dt=dt)
    net.add_signal("reward")
    net.add_input("pre", 2, na.SpikeArray())
    net.add_input("drive", 2, na.SpikeArray())
    net.add_population("post", 2, na.LIF(tau_m=10e-3))
    net.connect("pre", "post", na.OneToOne(), weight=0.5, plasticity=rule, name="syn")
    net.connect("drive", "post", na.OneToOne(), weight=5.0)
    sim = na.Simulator(net, backend, **({"dtype": "float64"} if backend == "torch" else {}))
    sim.run(steps * dt, inputs={"pre": pre, "drive": drive}, signals={"reward": reward})
    dw = sim.to_network().projections["syn"].weights - 0.5
    e = lambda tau: np.exp(-dt / tau)  # noqa: E731
    c0 = np.array([rule.a_plus * e(rule.tau_pre) ** lag, -rule.a_minus * e(rule.tau_post) ** lag])
    m_last = np.array([m_pre + lag, m_pre + lag])  # step of each synapse's second spike
    m = np.arange(3000, 3500)
    expected = rule.eta * dt * c0 * (e(rule.tau_c) ** (m[:, None] - m_last)).sum(0)
    np.testing.assert_allclose(dw, expected, rtol=1e-9)
    assert dw[0] > 0 > dw[1]


def test_signals_are_validated():
    net = reward_network()
    sim = na.Simulator(net, "torch")
    with pytest.raises(ValueError, match="'signals' names unknown signals \\['reward'\\]; the network has \\['dopamine'\\]"):
        sim.run(0.01, signals={"reward": 1.0})
    with pytest.raises(ValueError, match=r"parameter 'signals\['dopamine'\]' must be of shape \(100,\), got shape \(5,\)"):
        sim.run(0.01, signals={"dopamine": np.ones(5)})
    other = na.Network(dt=1e-4)
    other.add_population("a", 2)
    with pytest.raises(ValueError, match="the rule reads signal 'dopamine', which the network lacks"):
        other.connect("a", "a", weight=0.5, plasticity=RewardSTDP("dopamine"))


def rate_rule_network(rule) -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 30, na.PoissonRate(40.0))
    net.add_population("p", 15, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=2))
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=3), plasticity=rule,
                name="ff")
    net.connect("p", "p", na.FixedProbability(0.2, allow_self=False, seed=4), weight=0.05, delay=1e-3,
                sign="inhibitory", plasticity=rule, name="rec")
    net.monitor("p")
    net.monitor("ff", "w", every=100)
    net.monitor("rec", "w", every=100)
    return net


@pytest.mark.parametrize("rule", [Hebbian(eta=1e-5, decay=50.0), Oja(eta=1e-5),
                                  BCM(eta=1e-6, tau_theta=0.2, theta0=100.0)], ids=lambda r: type(r).__name__)
def test_rate_rules_have_identical_weight_trajectories(rule):
    net = rate_rule_network(rule)
    brian = na.Simulator(net, "brian2", seed=1).run(0.3)
    torch_ = na.Simulator(net, "torch", seed=1, dtype="float64").run(0.3)
    assert na.spike_agreement(brian, torch_, "p")[0] == brian.spike_count("p") == torch_.spike_count("p") > 0
    for key in ("ff.w", "rec.w"):
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values)
    assert np.abs(brian.trace("ff.w").values[-1] - brian.trace("ff.w").values[0]).mean() > 1e-3


def two_rate_inputs(rule, seconds: float = 1.0) -> np.ndarray:
    """Final weights onto one neuron from 10 inputs at 60 Hz then 10 at 10 Hz."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 20, na.PoissonRate(60.0))
    net.add_population("post", 1, na.LIF(tau_m=10e-3, i_bias=0.8))
    net.connect("inp", "post", weight=0.3, plasticity=rule, name="ff")
    sim = na.Simulator(net, "torch", seed=0, dtype="float64")
    sim.run(seconds, inputs={"inp": np.r_[np.ones(10), np.full(10, 1 / 6)]})
    return sim.to_network().projections["ff"].weights


def test_hebbian_favours_active_inputs_and_oja_keeps_weights_bounded():
    hebb = two_rate_inputs(Hebbian(eta=1e-4, w_max=1.0))
    assert np.all(hebb[:10] == 1.0), "plain Hebbian growth runs into the bound"
    assert hebb[10:].mean() < 0.9  # slower for the weakly active inputs
    oja = two_rate_inputs(Oja(eta=1e-4, w_max=1.0), seconds=2.0)
    assert oja[:10].min() > oja[10:].max(), "the weight vector turns towards the active inputs"
    assert oja.max() < 0.6, "Oja's decay term keeps the weights far from the bound"


def test_bcm_threshold_decides_between_depression_and_potentiation():
    low = two_rate_inputs(BCM(eta=1e-7, tau_theta=100.0, theta0=0.0), seconds=0.5)
    high = two_rate_inputs(BCM(eta=1e-7, tau_theta=100.0, theta0=1e5), seconds=0.5)
    assert np.all(low > 0.3) and np.all(high < 0.3)
    assert low[:10].mean() - 0.3 > low[10:].mean() - 0.3  # active inputs change most


def test_rate_rules_need_dimensionless_weights():
    net = na.Network(dt=1e-4)
    net.add_population("pyr", 2, na.LIF.physical())
    with pytest.raises(ValueError, match="Oja acts on dimensionless weights, but population 'pyr' uses physical units"):
        net.connect("pyr", "pyr", weight=0.0, plasticity=Oja())
    with pytest.raises(ValueError, match="BCM: parameter 'tau_theta' must be > 0"):
        BCM(tau_theta=0.0)


def test_synaptic_normalization_holds_input_sums_identically_on_both_backends():
    net = na.Network(dt=1e-4)
    net.add_input("inp", 40, na.PoissonRate(40.0))
    net.add_population("p", 15, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=2))
    net.connect("inp", "p", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.4, seed=3), name="ff",
                plasticity=STDP(a_plus=0.02, a_minus=0.021), normalization=SynapticNormalization(4.0, interval=5e-3))
    net.connect("p", "p", na.FixedProbability(0.3, allow_self=False, seed=4), weight=na.Uniform(0.01, 0.1, seed=5),
                sign="inhibitory", normalization=SynapticNormalization(total=0.3, interval=1e-4), name="rec")
    net.monitor("p")
    net.monitor("ff", "w", every=50)
    sims = [na.Simulator(net, "brian2", seed=1), na.Simulator(net, "torch", seed=1, dtype="float64")]
    brian, torch_ = (s.run(0.3) for s in sims)
    assert na.spike_agreement(brian, torch_, "p")[0] == brian.spike_count("p") > 0
    np.testing.assert_array_equal(brian.trace("ff.w").values, torch_.trace("ff.w").values)
    learned = [s.to_network() for s in sims]
    for name, total in (("ff", 4.0), ("rec", 0.3)):
        np.testing.assert_array_equal(learned[0].projections[name].weights, learned[1].projections[name].weights)
    rec = learned[0].projections["rec"]  # normalized on the last step: sums hold exactly
    sums = np.bincount(rec.post_idx, weights=rec.weights, minlength=15)
    np.testing.assert_allclose(sums[sums > 0], 0.3, rtol=1e-12)
    ff = brian.trace("ff.w").values
    assert np.abs(ff[-1] - ff[0]).mean() > 1e-3, "STDP still moves individual weights"


def test_oja_pca_simulation_finds_the_first_principal_component(tmp_path):
    module = cli.load("oja_pca")
    metrics = module.run(cli.RunRecord("oja_pca", tmp_path), quick=True, seed=0)
    assert metrics["backends_identical"]
    assert metrics["initial_cosine"] < 0.5  # it starts far from the answer...
    assert metrics["cosine_brian2"] > 0.99 and metrics["cosine_torch"] > 0.99  # ...and learns it


@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_a_batch_of_copies_learns_the_sum_of_their_stdp_changes(dependence):
    """B copies sharing one weight matrix change it, step by step, by the sum
    of what each copy alone would have changed (while no bound is hit)."""
    import torch

    from neuroai.backends.torch import TorchNetwork

    net = na.Network(dt=1e-3)
    net.add_input("inp", 6, na.PoissonRate(max_rate=150.0))
    net.add_population("out", 4, na.LIF(tau_m=10e-3))
    rule = STDP(a_plus=1e-3, a_minus=1e-3, w_min=-10.0, w_max=10.0, dependence=dependence)
    net.connect("inp", "out", weight=na.Uniform(0.3, 0.6, seed=0), plasticity=rule)
    model = TorchNetwork(net, dtype="float64")
    rng = np.random.default_rng(0)
    x = torch.as_tensor(net.inputs["inp"].encoder.encode(rng.uniform(0.5, 1, (3, 6)), 1, 1e-3, rng), dtype=torch.float64)
    # a first step in which every input fires leaves pre traces to potentiate with
    primed = model({"inp": torch.ones(1, 1, 6, dtype=torch.float64)}).state
    batched = model({"inp": x}, state=primed.repeat(3)).state.plastic["inp_to_out"]["w"]
    w0 = primed.plastic["inp_to_out"]["w"]
    alone = [model({"inp": x[:, b:b + 1]}, state=primed).state.plastic["inp_to_out"]["w"] - w0 for b in range(3)]
    assert sum(d.abs().sum() for d in alone) > 0
    if dependence == "additive":
        torch.testing.assert_close(batched - w0, sum(alone), rtol=1e-12, atol=1e-15)
    else:  # soft bounds scale the summed change by the current weight
        torch.testing.assert_close(batched - w0, sum(alone), rtol=1e-9, atol=1e-12)
    triplet = na.Network(dt=1e-3)
    triplet.add_input("inp", 2)
    triplet.add_population("out", 2)
    triplet.connect("inp", "out", weight=0.5, plasticity=TripletSTDP())
    with pytest.raises(ValueError, match="need batch size 1"):
        TorchNetwork(triplet)({"inp": torch.ones(1, 2, 2)})
