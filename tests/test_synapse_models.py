"""Synapses and learning rules written as equations (SynapseModel): run by
Brian2 as written and compiled by the torch backend from the code Brian2
generates, with identical float64 spikes, states and weights; trainable."""
import numpy as np
import pytest
import torch

import neuroai as na
from neuroai.backends.torch import TorchNetwork

pytestmark = pytest.mark.usefixtures("one_thread")

PAIR_STDP = na.SynapseModel(
    "w : 1\ndapre/dt = -apre/tau_pre : 1 (event-driven)\ndapost/dt = -apost/tau_post : 1 (event-driven)",
    on_pre="v_post += w\napre += a_plus\nw = clip(w + apost, 0, w_max)",
    on_post="apost -= a_minus\nw = clip(w + apre, 0, w_max)",
    parameters=dict(tau_pre=20e-3, tau_post=20e-3, a_plus=0.02, a_minus=0.021, w_max=1.0))

TRIPLET_STDP = na.SynapseModel(  # Pfister & Gerstner (2006), all-to-all; weights change before the jumps
    "w : 1\ndr1/dt = -r1/tau_plus : 1 (event-driven)\ndr2/dt = -r2/tau_x : 1 (event-driven)\n"
    "do1/dt = -o1/tau_minus : 1 (event-driven)\ndo2/dt = -o2/tau_y : 1 (event-driven)",
    on_pre="I_post += w\nw = clip(w - o1*(a2_minus + a3_minus*r2), 0, w_max)\nr1 += 1\nr2 += 1",
    on_post="w = clip(w + r1*(a2_plus + a3_plus*o2), 0, w_max)\no1 += 1\no2 += 1",
    parameters=dict(tau_plus=16.8e-3, tau_x=101e-3, tau_minus=33.7e-3, tau_y=125e-3, a2_plus=5e-3,
                    a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4, w_max=1.0))

TSODYKS_MARKRAM = na.SynapseModel(  # depression (x) and facilitation (u), integrated exactly between spikes
    "w : 1\ndx/dt = (1 - x)/tau_d : 1 (event-driven)\ndu/dt = (U - u)/tau_f : 1 (event-driven)",
    on_pre="u += U*(1 - u)\nI_post += w*u*x\nx -= u*x",
    parameters=dict(tau_d=50e-3, tau_f=200e-3, U=0.2), init={"u": 0.2, "x": 1.0})

CLOPATH = na.SynapseModel(  # voltage-based STDP (Clopath et al. 2010): LTD on presynaptic spikes, LTP continuous
    "dw/dt = a_ltp*xbar*(v_post - theta_p)*int(v_post > theta_p)*(v_lp2_post - theta_m)*int(v_lp2_post > theta_m)"
    " : 1 (clock-driven)\ndxbar/dt = -xbar/tau_x : 1 (clock-driven)",
    on_pre="v_post += w\nw = clip(w - a_ltd*(v_lp1_post - theta_m)*int(v_lp1_post > theta_m), 0, w_max)\n"
           "xbar += 1",
    method="euler",
    parameters=dict(a_ltp=400.0, a_ltd=0.02, theta_p=0.9, theta_m=0.3, tau_x=15e-3, w_max=1.0))

CLOPATH_NEURON = na.NeuronModel(  # normalized LIF with the two low-pass filtered voltages the rule reads
    "dv/dt = -v/tau : 1 (unless refractory)\ndv_lp1/dt = (v - v_lp1)/tau_minus : 1\n"
    "dv_lp2/dt = (v - v_lp2)/tau_plus : 1",
    threshold="v > 1", reset="v = 0", refractory=1e-3, method="exact",
    parameters=dict(tau=10e-3, tau_minus=12e-3, tau_plus=7e-3))

CURRENT_NEURON = na.NeuronModel(  # normalized LIF with a synaptic current
    "dv/dt = (-v + I)/tau : 1 (unless refractory)\ndI/dt = -I/tau_s : 1",
    threshold="v > 1", reset="v = 0", refractory=2e-3, method="exact", parameters=dict(tau=10e-3, tau_s=5e-3))

ASSIGNED_CURRENT = na.SynapseModel("w : 1", on_pre="I_post = w")  # several arrive at once: the last synapse's stays

SUMMED_NEURON = na.NeuronModel("dv/dt = (-v + I_syn)/tau : 1\nI_syn : 1", threshold="v > 1", reset="v = 0",
                               method="euler", parameters=dict(tau=10e-3))

GATED_CONDUCTANCE = na.SynapseModel(  # a per-synapse gate s; the current summed over each neuron's synapses
    "w : 1\nds/dt = -s/tau_s : 1 (clock-driven)\nI_syn_post = w*s*(E - v_post) : 1 (summed)",
    on_pre="s += 1", parameters=dict(tau_s=5e-3, E=3.0))


def network(kind: str, seed: int = 0) -> tuple[na.Network, str]:
    """A small network around one synapse model; returns it and the projection's name."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 12, na.PoissonRate(60.0))
    if kind == "pair STDP onto a built-in LIF, delayed":
        net.add_population("p", 4, na.LIF(t_ref=2e-3), v_init=na.Uniform(0, 1, seed=seed))
        proj = net.connect("inp", "p", na.FixedProbability(0.6, seed=seed + 1), weight=na.Uniform(0.1, 0.5, seed=2),
                           synapse_model=PAIR_STDP, delay=1e-3)
    elif kind == "triplet STDP":
        net.add_population("p", 4, CURRENT_NEURON)
        proj = net.connect("inp", "p", na.FixedProbability(0.6, seed=seed + 1), weight=na.Uniform(0.4, 1.0, seed=2),
                           synapse_model=TRIPLET_STDP)
    elif kind == "Tsodyks-Markram":
        net.add_population("p", 4, CURRENT_NEURON)
        proj = net.connect("inp", "p", na.FixedProbability(0.6, seed=seed + 1), weight=na.Uniform(1.0, 3.0, seed=2),
                           synapse_model=TSODYKS_MARKRAM)
    elif kind == "assigned current":
        net.add_population("p", 4, CURRENT_NEURON)
        proj = net.connect("inp", "p", na.FixedProbability(0.6, seed=seed + 1), weight=na.Uniform(1.0, 4.0, seed=2),
                           synapse_model=ASSIGNED_CURRENT)
    elif kind == "Clopath":
        net.add_population("p", 4, CLOPATH_NEURON, v_init=na.Uniform(0, 1, seed=seed))
        proj = net.connect("inp", "p", na.FixedProbability(0.6, seed=seed + 1), weight=na.Uniform(0.2, 0.6, seed=2),
                           synapse_model=CLOPATH)
    elif kind == "summed conductance, recurrent":
        net.add_population("p", 6, SUMMED_NEURON)
        proj = net.connect("inp", "p", na.FixedProbability(0.5, seed=seed + 1), weight=na.Uniform(0.2, 0.6, seed=2),
                           synapse_model=GATED_CONDUCTANCE)
        net.connect("p", "p", na.FixedProbability(0.5, allow_self=False, seed=seed + 3), weight=0.1,
                    synapse_model=PAIR_STDP, delay=5e-4, name="recurrent")
    else:
        raise KeyError(kind)
    net.monitor("p")
    for var in net.populations["p"].variables:
        net.monitor("p", var, every=3)
    for name, part in net.projections.items():
        for var in part.synapse.variables:
            net.monitor(name, var, every=3)
    return net, proj.name


KINDS = ("pair STDP onto a built-in LIF, delayed", "triplet STDP", "Tsodyks-Markram", "assigned current", "Clopath",
         "summed conductance, recurrent")


def run_both(net, duration, seed=1):
    runs = (("brian2", {}), ("torch", {"dtype": "float64"}))
    sims = [na.Simulator(net, backend, seed=seed, **options) for backend, options in runs]
    return sims, [sim.run(duration) for sim in sims]


@pytest.mark.parametrize("kind", KINDS)
def test_synapse_models_are_bitwise_on_both_backends(kind):
    net, name = network(kind)
    sims, (brian, torch_) = run_both(net, 0.15)
    np.testing.assert_array_equal(brian.spikes["p"].steps, torch_.spikes["p"].steps)
    np.testing.assert_array_equal(brian.spikes["p"].indices, torch_.spikes["p"].indices)
    assert brian.spike_count("p") > 5, "no spikes: the test is vacuous"
    for key in brian.traces:
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values, err_msg=key)
    w = brian.trace(f"{name}.w").values
    learns = net.projections[name].synapse.learns
    assert np.any(w[-1] != w[0]) == learns, "the weights changed without a rule, or a rule did not change them"
    after = [sim.to_network().projections[name].weights for sim in sims]
    np.testing.assert_array_equal(after[0], after[1])


RULES = {
    "STDP": na.plasticity.STDP(tau_pre=20e-3, tau_post=20e-3, a_plus=0.02, a_minus=0.021, w_min=0.0, w_max=1.0),
    "STDP, multiplicative, nearest": na.plasticity.STDP(a_plus=0.2, a_minus=0.21, dependence="multiplicative",
                                                        nearest=True),
    "triplet STDP": na.plasticity.TripletSTDP(a2_plus=0.02, a3_plus=0.02, a2_minus=0.02, a3_minus=0.001),
}


@pytest.mark.parametrize("name", RULES)
def test_built_in_rules_and_their_equations_agree_bit_for_bit(name):
    """The built-in rule's hand-written torch path and its ``as_synapse_model()``
    equations in torch and Brian2: the same spikes and weight trajectories."""
    rule = RULES[name]
    written = rule.as_synapse_model("v")
    assert isinstance(written, na.SynapseModel) and written.learns
    results = []
    for kwargs in (dict(plasticity=rule), dict(synapse_model=written)):
        net = na.Network(dt=1e-4)
        net.add_input("inp", 12, na.PoissonRate(60.0))
        net.add_population("p", 4, na.LIF(t_ref=2e-3), v_init=na.Uniform(0, 1, seed=0))
        net.connect("inp", "p", na.FixedProbability(0.6, seed=1), weight=na.Uniform(0.1, 0.5, seed=2), name="proj",
                    **kwargs)
        net.monitor("p")
        net.monitor("proj", "w")
        results += run_both(net, 0.3)[1]
    assert results[0].spike_count("p") > 10
    w = results[0].trace("proj.w").values
    assert np.any(w[-1] != w[0])
    for other in results[1:]:
        np.testing.assert_array_equal(results[0].spikes["p"].steps, other.spikes["p"].steps)
        np.testing.assert_array_equal(w, other.trace("proj.w").values)


def test_tsodyks_markram_depresses_towards_its_closed_form_steady_state():
    """At a regular presynaptic rate the efficacy u*x of each spike settles
    where u and x return to themselves after one period (their fixed point)."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 1, na.RegularRate(50.0))
    net.add_population("p", 1, CURRENT_NEURON)
    net.connect("inp", "p", weight=1.0, synapse_model=TSODYKS_MARKRAM, name="tm")
    net.monitor("tm", "u")
    net.monitor("tm", "x")
    result = na.Simulator(net, "torch", dtype="float64").run(1.0)
    u, x = result.trace("tm.u").values[-1, 0], result.trace("tm.x").values[-1, 0]  # last updated at the last spike
    U, tau_d, tau_f, period = 0.2, 50e-3, 200e-3, 1 / 50.0
    e_d, e_f = np.exp(-period / tau_d), np.exp(-period / tau_f)
    # u just after a spike, u+ = U + (1 - U) u-, with u- = U + (u+ - U) e_f before the next one
    u_star = U * (1 + (1 - U) * (1 - e_f)) / (1 - (1 - U) * e_f)
    x_star = (1 - e_d) / (1 - (1 - u_star) * e_d)  # x just before a spike
    np.testing.assert_allclose(u, u_star, rtol=1e-3)
    np.testing.assert_allclose(x, (1 - u_star) * x_star, rtol=1e-3)


def test_a_batch_runs_each_copy_as_one_network_would():
    net, name = network("Tsodyks-Markram")
    module = TorchNetwork(net, dtype="float64", device="cpu")
    spikes = (torch.rand(400, 3, 12, generator=torch.Generator().manual_seed(0)) < 0.01).double()
    batched = module({"inp": spikes})
    for b in range(3):
        alone = module({"inp": spikes[:, b:b + 1]})
        assert torch.equal(alone.spikes["p"][:, 0], batched.spikes["p"][:, b])
        for var in ("u", "x"):
            assert torch.equal(alone.state.synapses[name][var][0], batched.state.synapses[name][var][b])
    assert batched.spikes["p"].sum() > 0


def test_clock_driven_decays_run_in_place_without_gradients_and_give_the_same_bits():
    net, name = network("summed conductance, recurrent")
    module = TorchNetwork(net, dtype="float64", device="cpu")
    assert module._synapse_models[name]._blocks["integrate"].in_place_code is not None  # s decays in place
    spikes = (torch.rand(300, 2, 12, generator=torch.Generator().manual_seed(1)) < 0.05).double()
    start = module({"inp": spikes[:100]}).state
    before = {k: v.clone() for k, v in start.synapses[name].items()}
    with torch.no_grad():  # in place, on the state's own copy
        fast = [module({"inp": spikes[100:]}, state=start) for _ in range(2)]
    slow = module({"inp": spikes[100:]}, state=start)  # with gradients: new tensors each step
    assert all(torch.equal(start.synapses[name][k], v) for k, v in before.items())  # the given state is untouched
    for out in fast:
        assert torch.equal(out.spikes["p"], slow.spikes["p"].detach()) and out.spikes["p"].sum() > 0
        assert all(torch.equal(out.state.synapses[name][k], slow.state.synapses[name][k].detach()) for k in before)


def test_a_written_synapse_trains_with_surrogate_gradients_and_runs_in_brian2_after():
    torch.manual_seed(0)
    net, name = network("Tsodyks-Markram")
    module = TorchNetwork(net, dtype="float32", device="cpu")
    spikes = (torch.rand(300, 4, 12, generator=torch.Generator().manual_seed(1)) < 0.02).float()
    target = torch.tensor([4.0, 0.0, 2.0, 6.0])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        counts = module({"inp": spikes}).spikes["p"].sum(0).mean(0)
        loss = ((counts - target) ** 2).mean()
        loss.backward()
        grad = module.weights[name].grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    trained = module.to_network()
    np.testing.assert_array_equal(trained.projections[name].weights,
                                  module.weights[name].detach().double().numpy())
    sims, (brian, torch_) = run_both(trained, 0.1)
    np.testing.assert_array_equal(brian.spikes["p"].steps, torch_.spikes["p"].steps)


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="w : 1\ndx/dt = -x/tau : 1"), "clock-driven"),
    (dict(model="w : 1", on_pre="v_post + w"), "assignment"),
    (dict(model="w : 1", on_pre="v_post += w", weight="g"), "'weight' must name"),
    (dict(model="w : 1", on_pre="v_post += w*k"), r"\['k'\] are used"),
    (dict(model="w : 1", on_pre="v_post += w", parameters={"k": 1.0}), "not used"),
    (dict(model="w : 1\nI_syn = w : 1 (summed)"), "'_post'"),
    (dict(model="w : 1", on_pre="v_post += w", init={"w": 1.0}), "'init' may set"),
    (dict(model="w : 1\nlastupdate : second", on_pre="v_post += w"), "Brian2's own"),
])
def test_bad_synapse_models_fail_on_creation_naming_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        na.SynapseModel(**kwargs)


def test_networks_check_what_a_synapse_model_reads_and_writes():
    net = na.Network()
    net.add_input("inp", 3)
    net.add_population("p", 2, na.LIF.physical())
    net.add_population("q", 2)
    with pytest.raises(ValueError, match="inconsistent units"):
        net.connect("inp", "p", synapse_model=PAIR_STDP)  # v is in volts, w dimensionless
    with pytest.raises(ValueError, match=r"\['I_post'\]"):
        net.connect("inp", "q", synapse_model=TSODYKS_MARKRAM)  # a built-in LIF has no I
    with pytest.raises(ValueError, match="an input, which has no variables"):
        net.connect("inp", "q", synapse_model=na.SynapseModel("w : 1", on_pre="v_post += w*v_pre"))
    with pytest.raises(ValueError, match=r"leave out \['plasticity', 'sign'\]"):
        net.connect("inp", "q", synapse_model=PAIR_STDP, sign="excitatory", plasticity=na.plasticity.STDP())
    with pytest.raises(TypeError, match="'synapse_model', not as 'synapse'"):
        net.connect("inp", "q", synapse=PAIR_STDP)
    proj = net.connect("inp", "q", synapse_model=PAIR_STDP)
    assert net.recordable(proj.name) == ("w", "apre", "apost")
    assert "SynapseModel" in net.features()


@pytest.mark.parametrize("on_pre, match", [
    ("v_post += w\nv_post = 0.5 * v_post + w", "synapse-by-synapse loop"),  # reads what it has just added to
    ("v_post *= w", "multiply.at has no exact tensor counterpart"),
])
def test_code_the_torch_backend_cannot_compile_fails_when_the_network_is_built(on_pre, match):
    model = na.SynapseModel("w : 1", on_pre=on_pre)
    net = na.Network()
    net.add_input("inp", 3)
    net.add_population("q", 2)
    net.connect("inp", "q", synapse_model=model, name="halving")
    with pytest.raises(NotImplementedError, match=f"projection 'halving'.*cannot compile.*{match}.*brian2 backend"):
        TorchNetwork(net)
