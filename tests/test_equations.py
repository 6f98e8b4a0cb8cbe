"""Neuron models written as equations (NeuronModel): validated on creation,
run by Brian2 as written and compiled by the torch backend from the code
Brian2 generates, with identical float64 spikes and states; trainable."""
import brian2 as b2
import numpy as np
import pytest
import torch

import neuroai as na
from neuroai.backends.torch import TorchNetwork

pytestmark = pytest.mark.usefixtures("one_thread")

EIF = ("dv/dt = (g_L*(E_L - v) + g_L*delta_T*exp((v - v_T)/delta_T) + I)/C : volt (unless refractory)\n"
       "dI/dt = -I/tau_s : amp")
EIF_PARAMETERS = dict(g_L=10e-9, E_L=-70e-3, delta_T=2e-3, v_T=-50e-3, C=200e-12, tau_s=5e-3, v_r=-60e-3)

MODELS = {  # name -> (model, synaptic input variable, its weight, initial v)
    "qif, euler, per-neuron drive": (
        na.NeuronModel("dv/dt = (v**2 + I_ext) / tau : 1 (unless refractory)\ndI_syn/dt = -I_syn/tau_s : 1",
                       threshold="v > 10", reset="v = -10", refractory=2e-3, method="euler",
                       parameters={"tau": 10e-3, "I_ext": np.linspace(0.0, 2.0, 6), "tau_s": 5e-3}),
        "I_syn", 3.0, -1.0),
    "eif, exponential euler, units": (
        na.NeuronModel(EIF, threshold="v > -30*mV", reset="v = v_r", refractory=2e-3, method="exponential_euler",
                       parameters=EIF_PARAMETERS),
        "I", 0.1e-9, na.Uniform(-70e-3, -55e-3, seed=1)),
    "lif, exact, per-neuron tau": (
        na.NeuronModel("dv/dt = (v_rest - v + R*I)/tau_m : volt (unless refractory)\ndI/dt = -I/tau_s : amp",
                       threshold="v >= v_th", reset="v = v_reset", refractory=1e-3, method="exact",
                       parameters=dict(v_rest=-70e-3, R=1e8, tau_m=np.linspace(10e-3, 30e-3, 6), tau_s=5e-3,
                                       v_th=-50e-3, v_reset=-65e-3)),
        "I", 0.1e-9, na.Uniform(-70e-3, -55e-3, seed=2)),
    "fitzhugh-nagumo, rk4, time-dependent drive": (
        na.NeuronModel("dv/dt = (v - v**3/3 - w + I0 + 0.5*sin(2*pi*f*t))/tau : 1\ndw/dt = (v + a - b*w)/tau_w : 1",
                       threshold="v > 1.0 and w < 1.5", reset="w += 0.1", method="rk4",
                       parameters=dict(tau=1e-3, tau_w=12.5e-3, a=0.7, b=0.8, I0=0.5, f=20.0)),
        "v", 0.3, -1.0),
    "qif, rk2, functions": (
        na.NeuronModel("dv/dt = (v**2 + I_ext + sqrt(abs(v))*exprel(v/10) - log1p(abs(w)))/tau : 1\n"
                       "dw/dt = -w/tau : 1", threshold="v > 10", reset="v = -10\nw = w + 1", method="rk2",
                       parameters=dict(tau=10e-3, I_ext=np.linspace(0.1, 2.0, 6))),
        "v", 0.3, -1.0),
}


def drive(model, variable, weight, v_init, seed=0, init=None) -> na.Network:
    net = na.Network(dt=1e-4)
    net.add_input("inp", 10, na.PoissonRate(80.0))
    net.add_population("p", 6, model, v_init=v_init, init=init)
    net.connect("inp", "p", na.FixedProbability(0.5, seed=seed), weight=weight, synapse=na.Delta(variable))
    net.monitor("p")
    for var in model.state_variables:
        net.monitor("p", var, every=5)
    return net


def run_both(net, duration):
    runs = (("brian2", {}), ("torch", {"dtype": "float64"}))
    return [na.Simulator(net, backend, seed=1, **options).run(duration) for backend, options in runs]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_equation_models_are_bitwise_on_both_backends(name):
    model, variable, weight, v_init = MODELS[name]
    brian, torch_ = run_both(drive(model, variable, weight, v_init), 0.1)
    np.testing.assert_array_equal(brian.spikes["p"].steps, torch_.spikes["p"].steps)
    np.testing.assert_array_equal(brian.spikes["p"].indices, torch_.spikes["p"].indices)
    assert brian.spike_count("p") > 5, "no spikes: the test is vacuous"
    assert set(brian.traces) == {f"p.{v}" for v in model.state_variables}
    for key in brian.traces:
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values, err_msg=key)


BUILT_IN = {  # name -> (model, Delta weight onto v, initial v range)
    "LIF, refractory": (na.LIF(t_ref=2e-3), 0.3, (0.0, 1.0)),
    "LIF, subtractive reset": (na.LIF(reset="subtract", v_rest=0.2), 0.3, (0.0, 1.0)),
    "LIF, physical": (na.LIF.physical(i_bias=0.1e-9), 4e-3, (-70e-3, -55e-3)),
    "AdaptiveLIF": (na.AdaptiveLIF(t_ref=1e-3, theta_plus=0.2, tau_theta=50e-3), 0.4, (0.0, 1.0)),
    "Izhikevich": (na.Izhikevich.of_type("chattering", i_bias=5.0), 4.0, (-70.0, -60.0)),
    "AdEx": (na.AdEx(b=60e-12, i_bias=0.2e-9), 4e-3, (-70e-3, -55e-3)),
}


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_models_and_their_equations_agree_bit_for_bit(name):
    """The hand-written torch fast path of a built-in model and its ``as_model()``
    equations in torch and Brian2: the same spikes and states."""
    builtin, weight, v_range = BUILT_IN[name]
    written = builtin.as_model()
    assert isinstance(written, na.NeuronModel) and set(written.state_variables) == set(builtin.state_variables)
    v0 = np.random.default_rng(3).uniform(*v_range, 6)
    init = {k: value for k, value in builtin.initial_state(v0).items() if k != "v"}  # (e.g. u = b v)
    runs = [(builtin, "torch", None), (written, "torch", init), (written, "brian2", init)]
    options = {"torch": {"dtype": "float64"}, "brian2": {}}
    results = [na.Simulator(drive(model, "v", weight, v0, init=start), backend, seed=1, **options[backend]).run(0.15)
               for model, backend, start in runs]
    assert results[0].spike_count("p") > 10, "no spikes: the test is vacuous"
    for other in results[1:]:
        np.testing.assert_array_equal(results[0].spikes["p"].steps, other.spikes["p"].steps)
        np.testing.assert_array_equal(results[0].spikes["p"].indices, other.spikes["p"].indices)
        for var in builtin.state_variables:
            np.testing.assert_array_equal(results[0].trace(f"p.{var}").values, other.trace(f"p.{var}").values,
                                          err_msg=var)


def test_refractoriness_gates_flagged_variables_only():
    """Synaptic jumps onto an (unless refractory) variable are discarded while
    the neuron is refractory, as in Brian2; onto an unflagged one they land."""
    model = na.NeuronModel("dv/dt = -v/tau : 1 (unless refractory)\ndx/dt = -x/tau : 1",
                           threshold="v > 1", reset="v = 0", refractory=5e-3, parameters={"tau": 20e-3})
    net = na.Network(dt=1e-4)
    net.add_input("inp", 1, na.RegularRate(1000.0))
    net.add_population("p", 1, model)
    net.connect("inp", "p", weight=0.6, synapse=na.Delta("v"))
    net.connect("inp", "p", weight=0.1, synapse=na.Delta("x"))
    net.monitor("p")
    net.monitor("p", "v")
    net.monitor("p", "x")
    brian, torch_ = run_both(net, 0.05)
    for key in ("p.v", "p.x"):
        np.testing.assert_array_equal(brian.trace(key).values, torch_.trace(key).values)
    steps = brian.spikes["p"].steps
    assert len(steps) >= 3
    v = brian.trace("p.v").values[:, 0]
    assert np.all(v[steps[0] + 1:steps[0] + 50] == 0.0)  # held at the reset for the 5 ms after the spike
    assert np.all(np.diff(brian.trace("p.x").values[steps[0]:steps[0] + 50, 0]) != 0)  # x kept receiving


def test_a_written_neuron_trains_with_surrogate_gradients():
    torch.manual_seed(0)
    model = na.NeuronModel("dv/dt = (-v + I)/tau : 1 (unless refractory)\ndI/dt = -I/tau_s : 1",
                           threshold="v > 1", reset="v = 0", refractory=1e-3, method="exact",
                           parameters=dict(tau=10e-3, tau_s=5e-3))
    net = na.Network(dt=1e-3)
    net.add_input("inp", 20, na.SpikeArray())
    net.add_population("out", 2, model)
    net.connect("inp", "out", weight=na.Uniform(0, 0.5, seed=1), synapse=na.Delta("I"), name="ff")
    module = TorchNetwork(net, dtype="float32", device="cpu")
    x = (torch.rand(50, 16, 20, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    target = torch.tensor([5.0, 1.0])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    losses = []
    for step in range(15):
        counts = module({"inp": x}).spikes["out"].sum(0)
        loss = ((counts - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        grad = module.weights["ff"].grad
        if step == 0:
            assert torch.isfinite(grad).all() and (grad != 0).sum() > 10
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses


def test_float_parameters_take_their_units_from_the_equations_and_quantities_are_checked():
    model = na.NeuronModel(EIF, threshold="v > -30*mV", reset="v = v_r", parameters=EIF_PARAMETERS)
    assert model.dimension("tau_s") == (0, 0, 1, 0, 0, 0, 0)  # seconds
    assert model.dimension("C") == (-2, -1, 4, 2, 0, 0, 0)  # farads
    assert model.units == "physical" and model.state_variables == ("v", "I")
    same = na.NeuronModel(EIF, threshold="v > -30*mV", reset="v = v_r",
                          parameters={**EIF_PARAMETERS, "C": 200 * b2.pF, "tau_s": 5 * b2.ms})
    assert same.parameters["C"] == pytest.approx(200e-12) and same.parameters["tau_s"] == pytest.approx(5e-3)
    assert same.dimension("C") == model.dimension("C") and same.dimension("tau_s") == model.dimension("tau_s")
    with pytest.raises(ValueError, match="inconsistent units in the equation of 'v'"):
        na.NeuronModel(EIF, threshold="v > -30*mV", reset="v = v_r", parameters={**EIF_PARAMETERS, "C": 200 * b2.mV})
    with pytest.raises(ValueError, match="units of parameters \\['a', 'b'\\] cannot be told apart"):
        na.NeuronModel("dv/dt = -v/(a*b) : 1", parameters={"a": 1e-2, "b": 2.0})


@pytest.mark.parametrize("kwargs, match", [
    (dict(equations="dv/dt = (v + : 1"), "the equations do not parse"),
    (dict(equations="dv/dt = -v/tau : 1"), "\\['tau'\\] are used but neither declared"),
    (dict(equations="dv/dt = -v/tau : 1", parameters={"tau": 1e-2, "x": 1.0}), "parameter 'x' is not used"),
    (dict(equations="dv/dt = -v/tau : 1", threshold="v + 1", parameters={"tau": 1e-2}), "is not a condition"),
    (dict(equations="dv/dt = -v/tau + exp(tau) : 1", parameters={"tau": 1e-2}), "inconsistent units"),
    (dict(equations="dv/dt = -v/tau : 1", threshold="v > 1", reset="u = 0", parameters={"tau": 1e-2}),
     "reset line 1 'u = 0' must assign one variable of the model"),
    (dict(equations="dv/dt = -v/tau : 1", reset="v = 0", parameters={"tau": 1e-2}), "needs a threshold"),
    (dict(equations="dv/dt = -v/tau : 1", method="rk9", parameters={"tau": 1e-2}), "unknown integration method"),
    (dict(equations="dv/dt = -v/tau : 1", threshold="v > 1", refractory=-1e-3, parameters={"tau": 1e-2}),
     "'refractory' must be >= 0"),
    (dict(equations="dlastspike/dt = 1 : 1"), "Brian2's own variables"),
    (dict(equations="dv/dt = -v/tau : 1", threshold="v > 1", reset="v = v / (1 - 1)", parameters={"tau": 1e-2}),
     "reset line 1 'v = v / \\(1 - 1\\)' must be finite, but it simplifies to zoo\\*v"),
    (dict(equations="dv/dt = -v/tau : 1", method="euler", threshold="v > 1", reset="v = log(0)",
          parameters={"tau": 1e-2}), "reset line 1 'v = log\\(0\\)' must be finite"),
])
def test_bad_models_fail_on_creation_naming_what_is_wrong(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        na.NeuronModel(**kwargs)


def test_networks_check_what_a_written_model_accepts():
    model = na.NeuronModel("dv/dt = (I - v)/tau : 1\ndI/dt = -I/tau : 1\nk : 1 (constant)", threshold="v > 1",
                           parameters={"tau": np.full(3, 1e-2)})
    net = na.Network()
    net.add_input("inp", 2)
    with pytest.raises(ValueError, match="parameter 'tau' has 3 values, the population 4 neurons"):
        net.add_population("bad", 4, model)
    net.add_population("p", 3, model)
    with pytest.raises(ValueError, match="Delta target 'w' is not a variable that synapses can change in population "
                                         "'p' \\(NeuronModel: \\['v', 'I'\\]\\)"):
        net.connect("inp", "p", synapse=na.Delta("w"))
    with pytest.raises(ValueError, match="write a synaptic current into its equations"):
        net.connect("inp", "p", synapse=na.ExponentialCurrent(5e-3))
    noisy = na.NeuronModel("dv/dt = -v/tau + sigma*xi*tau**-0.5 : 1", parameters={"tau": 1e-2, "sigma": 0.1})
    net.add_population("noisy", 2, noisy)
    with pytest.raises(NotImplementedError, match="does not support \\['stochastic'\\]; backends that do: "
                                                  "\\['brian2'\\]"):
        na.Simulator(net, "torch")
