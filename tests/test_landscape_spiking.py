"""Curvature of spiking networks: neuroai's torch.func-compatible surrogate spike functions, and the
landscape tools on SpikingClassifier and TorchNetwork against the exact Hessian from double backward."""
import copy
import math

import pytest
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

import neuroai as na
import neuroai.landscape as L
from neuroai.backends import torch_surrogates
from neuroai.backends.torch import TorchNetwork
from neuroai.models.recurrent import make_recurrent
from neuroai.models.snn import SpikingClassifier, feedforward_network

pytestmark = pytest.mark.usefixtures("one_thread")

PAIRS = [(torch_surrogates.atan(), snn_surrogate.atan()), (torch_surrogates.atan(0.7), snn_surrogate.atan(0.7)),
         (torch_surrogates.fast_sigmoid(), snn_surrogate.fast_sigmoid()),
         (torch_surrogates.fast_sigmoid(3.0), snn_surrogate.fast_sigmoid(3.0)),
         (torch_surrogates.sigmoid(), snn_surrogate.sigmoid()), (torch_surrogates.sigmoid(4.0), snn_surrogate.sigmoid(4.0))]


def exact_hessian(model, loss_fn, x, y):
    """The Hessian of ``loss_fn(model(x), y)`` over all parameters (flattened in model order) by plain
    double backward, one row per parameter (independent of neuroai.landscape)."""
    names, params = zip(*[(n, p.detach()) for n, p in model.named_parameters()])
    theta = torch.cat([p.reshape(-1) for p in params]).requires_grad_()
    chunks = theta.split([p.numel() for p in params])
    loss = loss_fn(functional_call(model, {n: c.view(p.shape) for n, c, p in zip(names, chunks, params)}, (x,)), y)
    (g,) = torch.autograd.grad(loss, theta, create_graph=True)
    rows = [torch.autograd.grad(gi, theta, retain_graph=True, materialize_grads=True)[0] if gi.requires_grad
            else torch.zeros_like(theta) for gi in g]
    return torch.stack(rows)


def mse(out, target):  # written out: differentiable in every mode (nn.MSELoss is not forward-over-reverse)
    return ((out - target) ** 2).mean()


# ---------------------------------------------------------------- the surrogate functions

def derivatives(fn, x):
    """Values, first and second derivatives of the elementwise ``fn`` at ``x`` by double backward."""
    x = x.clone().requires_grad_()
    s = fn(x)
    (d1,) = torch.autograd.grad(s.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return s.detach(), d1.detach(), d2


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=[repr(p[0]) for p in PAIRS])
def test_surrogates_equal_snntorch_and_work_under_every_transform(ours, theirs):
    g = torch.Generator().manual_seed(0)
    x = torch.cat([0.4 * torch.randn(500, generator=g, dtype=torch.float64),
                   torch.tensor([0.0, -0.0, 1e-300, -1e-300, 0.3, -0.3], dtype=torch.float64)])
    s, d1, d2 = derivatives(ours, x)
    s_ref, d1_ref, d2_ref = derivatives(theirs, x)  # (snnTorch's spikes are float32 whatever the input)
    assert torch.equal(s, s_ref.double())  # the Heaviside step, no spike at exactly 0
    assert s.dtype == torch.float64 and ours(x.float()).dtype == torch.float32
    torch.testing.assert_close(d1, d1_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(d2, d2_ref, rtol=0, atol=1e-12)  # snnTorch's under double backward
    with torch.no_grad():  # (the step alone is computed here)
        assert torch.equal(ours(x), s)
        assert torch.equal(ours(torch.tensor([math.nan, -math.inf, math.inf])), theirs(torch.tensor(
            [math.nan, -math.inf, math.inf])))

    total = lambda t: ours(t).sum()  # noqa: E731
    ones = torch.ones_like(x)
    torch.testing.assert_close(grad(total)(x), d1, rtol=0, atol=1e-12)
    value, tangent = jvp(ours, (x,), (ones,))
    assert torch.equal(value, s)
    torch.testing.assert_close(tangent, d1, rtol=0, atol=1e-12)
    torch.testing.assert_close(jvp(grad(total), (x,), (ones,))[1], d2, rtol=0, atol=1e-12)  # forward-over-reverse
    torch.testing.assert_close(grad(lambda t: jvp(total, (t,), (ones,))[1])(x), d2, rtol=0, atol=1e-12)
    batched = vmap(grad(total))(torch.stack([x, -x]))
    torch.testing.assert_close(batched, torch.stack([d1, d1]), rtol=0, atol=1e-12)  # s' is even
    with pytest.raises(RuntimeError, match="setup_context"):  # what the new functions are for
        grad(lambda t: theirs(t).sum())(x)


def test_surrogate_parameters_and_inputs_are_checked():
    assert repr(torch_surrogates.atan()) == "atan(alpha=2.0)"
    assert repr(torch_surrogates.fast_sigmoid(slope=5)) == "fast_sigmoid(slope=5.0)"
    assert torch_surrogates.sigmoid() == torch_surrogates.sigmoid(25) != torch_surrogates.fast_sigmoid()
    with pytest.raises(ValueError, match=r"atan: parameter 'alpha' must be > 0, got -1\.0"):
        torch_surrogates.atan(-1)
    with pytest.raises(ValueError, match=r"sigmoid: parameter 'slope' must be finite, got inf"):
        torch_surrogates.sigmoid(math.inf)
    with pytest.raises(TypeError, match=r"fast_sigmoid: parameter 'slope' must be a real number, got '2'"):
        torch_surrogates.fast_sigmoid("2")
    with pytest.raises(TypeError, match=r"atan: expected a floating-point tensor .*got a tensor of dtype torch.int64"):
        torch_surrogates.atan()(torch.arange(3))


def small_network() -> na.Network:
    """Input -> hidden (refractory, value reset, delayed inhibitory recurrence) -> output LIF."""
    net = na.Network(dt=1e-3)
    net.add_input("inp", 5, na.RegularRate(max_rate=200.0))
    net.add_population("hid", 6, na.LIF(tau_m=10e-3, t_ref=2e-3, reset="value"), v_init=na.Uniform(0, 1, seed=3))
    net.add_population("out", 3, na.LIF(tau_m=15e-3, reset="subtract"))
    net.connect("inp", "hid", weight=na.Normal(0.5, 0.3, seed=1))
    net.connect("hid", "hid", na.FixedProbability(0.5, allow_self=False, seed=2), weight=0.2, sign="inhibitory",
                delay=2e-3)
    net.connect("hid", "out", weight=na.Normal(0.4, 0.3, seed=4))
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_default_spikes_are_snntorchs(dtype):
    x = torch.rand(30, 2, 5, generator=torch.Generator().manual_seed(0)) < 0.5
    ours = TorchNetwork(small_network(), dtype=dtype)
    theirs = TorchNetwork(small_network(), dtype=dtype, surrogate_fn=snn_surrogate.atan())
    assert ours.spike_fn == torch_surrogates.atan()
    a, b = ours({"inp": x}), theirs({"inp": x})
    assert sum(int(s.sum()) for s in a.spikes.values()) > 50
    for p in a.spikes:
        assert torch.equal(a.spikes[p], b.spikes[p]), p
    ga = torch.autograd.grad(a.spikes["out"].sum(), list(ours.parameters()))
    gb = torch.autograd.grad(b.spikes["out"].sum(), list(theirs.parameters()))
    for u, v in zip(ga, gb):  # (snnTorch's float32 spikes round the float64 gradients to float32 precision)
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-5)
    with torch.no_grad():
        c = ours({"inp": x})
    assert all(torch.equal(c.spikes[p], b.spikes[p]) for p in b.spikes)


# ---------------------------------------------------------------- the landscape tools on a SpikingClassifier

@pytest.fixture(scope="module")
def classifier():
    """A [8, 6, 3] SpikingClassifier (66 weights, float64, 10 steps of regular-rate input) on 6 samples,
    with the exact Hessian of its cross-entropy and that Hessian's eigenvalues (ascending)."""
    net = feedforward_network([8, 6, 3], seed=1, encoder=na.RegularRate(max_rate=500.0), gain=3.0)
    model = SpikingClassifier(net, steps=10, dtype="float64")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (6,), generator=g)
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        first, again = loss_fn(model(x), y), loss_fn(model(x), y)
    assert torch.equal(first, again)  # a deterministic forward
    assert model.last_spike_counts["output"] > 0
    Hx = exact_hessian(model, loss_fn, x, y)
    assert Hx.shape == (66, 66) and torch.allclose(Hx, Hx.T, rtol=0, atol=1e-14)
    return model, loss_fn, (x, y), Hx, torch.linalg.eigvalsh(Hx)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-forward", "auto"])
def test_hessian_operator_is_the_exact_hessian(classifier, mode):
    model, loss_fn, data, Hx, ev = classifier
    H = L.HessianOperator(model, loss_fn, data, mode=mode)
    assert H.mode == ("forward-over-reverse" if mode == "auto" else mode)
    assert H.num_params == 66 and abs(float(ev[-1])) > 0.1  # a real, nonzero curvature
    torch.testing.assert_close(H.dense(), Hx, rtol=1e-9, atol=1e-12)
    v = torch.randn(66, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(H.matvec(v), Hx @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenvalues_within_one_percent(classifier, method):
    model, loss_fn, data, Hx, ev = classifier
    vals, vecs = L.top_eigenvalues(model, loss_fn, data, k=2, method=method, seed=0)
    for found, exact in zip(vals, ev.flip(0)[:2]):
        assert abs(float(found - exact)) <= 0.01 * abs(float(exact))
    residual = torch.linalg.vector_norm(vecs @ Hx - vals[:, None] * vecs, dim=1)
    assert (residual < 0.05 * abs(ev).max()).all()


def test_hutchinson_trace_within_its_error(classifier):
    model, loss_fn, data, Hx, _ = classifier
    est = L.hessian_trace(model, loss_fn, data, num_probes=600, seed=0)
    tr = float(Hx.trace())
    # the docstring's variance of one probe, 2 sum_{i != j} H_ij^2, against the estimate's standard error
    sd = math.sqrt(2 * float((Hx**2).sum() - (Hx.diag()**2).sum()) / 600)
    assert est.stderr == pytest.approx(sd, rel=0.2)
    assert abs(est.trace - tr) <= 4 * est.stderr


def test_spectral_density_support_and_flatness(classifier):
    model, loss_fn, data, Hx, ev = classifier
    n = Hx.shape[0]
    d = L.spectral_density(model, loss_fn, data, num_runs=12, num_iter=n, seed=3)
    used = d.nodes[d.weights > 0]
    scale = float(abs(ev).max())
    assert float(used.min()) >= float(ev[0]) - 1e-8 * scale and float(used.max()) <= float(ev[-1]) + 1e-8 * scale
    assert float(used.max()) == pytest.approx(float(ev[-1]), rel=1e-6)  # n steps: the Ritz values are eigenvalues
    assert float(torch.trapezoid(d.density, d.grid)) == pytest.approx(1.0, abs=1e-3)
    assert d.mean() * n == pytest.approx(L.hessian_trace(model, loss_fn, data, num_probes=12, seed=3).trace, rel=1e-8)

    f = L.flatness(model, loss_fn, data, num_probes=400, seed=0)
    assert f.num_params == n and f.top_eigenvalue == pytest.approx(float(ev[-1]), rel=0.01)
    sd = math.sqrt(2 * float((Hx**2).sum() - (Hx.diag()**2).sum()) / 400)
    assert abs(f.trace - float(Hx.trace())) <= 4 * sd
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert f.param_norm == pytest.approx(float(torch.linalg.vector_norm(theta)), rel=1e-12)


def test_the_forward_loss_is_piecewise_constant(classifier):
    """The spikes are a Heaviside step of the weights: the loss the forward pass computes is flat between
    threshold crossings, though the surrogate Hessian is not zero. Slices, sharpness and interpolation see
    the forward loss."""
    model, loss_fn, data, Hx, ev = classifier
    with torch.no_grad():
        loss0 = float(loss_fn(model(data[0]), data[1]))
    top = L.top_eigenvalues(model, loss_fn, data, k=1, seed=0)
    obj = L.Objective(model, loss_fn, data)
    direction = {name: t.clone() for name, t in obj.unflatten(top.eigenvectors[0]).items()}
    ts = [-1e-6, -1e-7, 0.0, 1e-7, 1e-6]
    s1 = L.loss_slice_1d(model, loss_fn, data, direction=direction, alphas=ts)
    assert s1.losses.tolist() == [loss0] * 5
    # a quadratic model with the surrogate curvature would have moved by far more than rounding
    assert 0.5 * abs(float(top.eigenvalues[0])) * 1e-12 > 1000 * math.ulp(loss0)

    wide = L.loss_slice_1d(model, loss_fn, data, direction=direction, alphas=torch.linspace(-3, 3, 13))
    assert torch.isfinite(wide.losses).all() and float(wide.losses[6]) == loss0
    assert len(set(wide.losses.tolist())) > 1  # far enough, spikes change
    s2 = L.loss_slice_2d(model, loss_fn, data, alphas=[-0.5, 0, 0.5], betas=[-0.5, 0, 0.5], seed=1)
    assert s2.losses.shape == (3, 3) and torch.isfinite(s2.losses).all() and float(s2.losses[1, 1]) == loss0

    assert L.keskar_sharpness(model, loss_fn, data, epsilon=1e-9, steps=3).sharpness == 0.0  # on a plateau
    sharp = L.keskar_sharpness(model, loss_fn, data, epsilon=0.05, steps=5, seed=0)
    assert sharp.loss == loss0 and sharp.max_loss >= loss0 and math.isfinite(sharp.sharpness)

    other = SpikingClassifier(feedforward_network([8, 6, 3], seed=2, encoder=na.RegularRate(max_rate=500.0),
                                                  gain=3.0), steps=10, dtype="float64")
    line = L.linear_interpolation(model, other, loss_fn, data, ts=torch.linspace(0, 1, 5))
    with torch.no_grad():
        assert line.losses[0] == loss0 and line.losses[-1] == float(loss_fn(other(data[0]), data[1]))
    assert torch.isfinite(line.losses).all()


# ---------------------------------------------------------------- a bare TorchNetwork

class OutputCounts(nn.Module):
    """Spike trains (batch, time, 5) -> the output population's spike counts (batch, 3)."""

    def __init__(self, net: TorchNetwork):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net({"inp": x.transpose(0, 1)}).spikes["out"].sum(0)


@pytest.fixture(scope="module")
def counts():
    x = (torch.rand(3, 25, 5, generator=torch.Generator().manual_seed(5)) < 0.4).double()
    target = torch.full((3, 3), 4.0, dtype=torch.float64)
    model = OutputCounts(TorchNetwork(small_network(), dtype="float64"))
    return model, (x, target), exact_hessian(model, mse, x, target)


@pytest.mark.parametrize("mode", ["reverse-over-reverse", "forward-over-reverse", "reverse-over-forward"])
def test_torch_network_hessian(counts, mode):
    model, data, Hx = counts
    n = sum(p.numel() for p in model.parameters())
    assert Hx.shape == (n, n) and float(abs(Hx).max()) > 0.1
    H = L.HessianOperator(model, mse, data, mode=mode)
    torch.testing.assert_close(H.dense(), Hx, rtol=1e-9, atol=1e-12)
    if mode == "reverse-over-forward":  # nn.MSELoss has no forward-over-reverse: auto falls back
        auto = L.HessianOperator(model, nn.MSELoss(), data, mode="auto")
        assert auto.mode == "reverse-over-forward"
        torch.testing.assert_close(auto.dense(), Hx, rtol=1e-9, atol=1e-12)
        top = L.top_eigenvalues(auto, k=1, seed=0).eigenvalues[0]
        assert abs(float(top) - float(torch.linalg.eigvalsh(Hx)[-1])) <= 0.01 * abs(float(top))


def test_snntorch_surrogates_give_a_clear_error(counts):
    _, data, Hx = counts
    model = OutputCounts(TorchNetwork(small_network(), dtype="float64", surrogate_fn=snn_surrogate.atan()))
    # plain double backward (the default mode) differentiates snnTorch's functions: the same Hessian, up to
    # the float32 rounding of snnTorch's derivatives
    torch.testing.assert_close(L.HessianOperator(model, mse, data).dense(), Hx, rtol=1e-5, atol=1e-5)
    advice = r"snntorch\.surrogate\.ATan.*torch\.func.*neuroai\.backends\.torch_surrogates\.atan\(\)"
    with pytest.raises(TypeError, match="HessianOperator: the model .*" + advice) as info:
        L.HessianOperator(model, mse, data, mode="auto")  # raised by its trial product, not swallowed
    assert isinstance(info.value.__cause__, RuntimeError) and "setup_context" in str(info.value.__cause__)
    H = L.HessianOperator(model, mse, data, mode="reverse-over-forward")  # (the forward alone works)
    with pytest.raises(TypeError, match="HessianOperator: the model .*" + advice):
        H.matvec(torch.ones(H.num_params, dtype=torch.float64))
    top = float(L.top_eigenvalues(model, mse, data, k=1, seed=0).eigenvalues[0])   # default mode: works
    assert abs(top - float(torch.linalg.eigvalsh(Hx)[-1])) <= 0.01 * abs(top)
    ours = OutputCounts(TorchNetwork(small_network(), dtype="float64"))   # plain autograd: the same ascent
    assert L.keskar_sharpness(model, mse, data, epsilon=0.05).sharpness == pytest.approx(
        L.keskar_sharpness(ours, mse, data, epsilon=0.05).sharpness, rel=1e-5)
    assert torch.isfinite(L.loss_slice_1d(model, mse, data, alphas=[-0.1, 0, 0.1]).losses).all()


# ---------------------------------------------------------------- recurrent spiking cores

class LastStep(nn.Module):
    """A recurrent spiking core (batch-first input) read out linearly at its last step."""

    def __init__(self, cell: str):
        super().__init__()
        self.core = make_recurrent(cell, 3, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        spikes, _ = self.core(x.transpose(0, 1))
        return self.out(spikes[-1])


@pytest.mark.parametrize("cell", ["spiking_rnn", "spiking_lstm"])
def test_recurrent_spiking_cores_keep_snntorchs_gradients_and_have_a_hessian(cell):
    torch.manual_seed(0)
    model = LastStep(cell)
    twin = copy.deepcopy(model)
    for c in twin.core.cells:   # snnTorch's own surrogate: bitwise the same gradients in float32
        c.spike_grad = snn_surrogate.atan()
    g = torch.Generator().manual_seed(1)
    x, y = 2 * torch.randn(4, 10, 3, generator=g), torch.randint(0, 2, (4,), generator=g)
    ours = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    theirs = torch.autograd.grad(nn.functional.cross_entropy(twin(x), y), list(twin.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    model = model.double()
    x = x.double()
    exact = torch.linalg.eigvalsh(exact_hessian(model, nn.CrossEntropyLoss(), x, y))
    top = L.top_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=1, seed=0).eigenvalues
    assert abs(float(top[0] - exact[-1])) <= 0.01 * abs(float(exact[-1]))


def test_the_kept_graph_survives_buffers_rewritten_in_place(classifier):
    """The default mode keeps the gradient's graph; tools that restore the model (slices) copy its buffers
    back in place, which must not break the operator's next product."""
    model, loss_fn, data, Hx, _ = classifier
    H = L.HessianOperator(model, loss_fn, data)
    v = torch.ones(H.num_params, dtype=torch.float64)
    before = H.matvec(v)
    with L.preserved(model):
        for buffer in model.buffers():
            buffer.mul_(1.0)
    torch.testing.assert_close(H.matvec(v), before, rtol=0, atol=0)
    torch.testing.assert_close(before, Hx @ v, rtol=1e-9, atol=1e-12)


def test_the_spiking_policy_keeps_snntorchs_gradients_and_has_a_hessian():
    from neuroai.rl.policies import SpikingActorCritic
    torch.manual_seed(0)
    policy = SpikingActorCritic(4, 2, hidden=8, steps=6)
    twin = copy.deepcopy(policy)
    twin.lif.spike_grad = snn_surrogate.fast_sigmoid(slope=policy.lif.spike_grad.value)
    obs = 2 * torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    actions = torch.tensor([0, 1, 1, 0, 1])

    def loss_fn(output, target):   # the actor's cross-entropy ((logits, values) -> scalar)
        return nn.functional.cross_entropy(output[0], target)
    names = [n for n, _ in policy.named_parameters() if not n.startswith("critic")]
    ours = torch.autograd.grad(loss_fn(policy(obs), actions), [p for n, p in policy.named_parameters() if n in names])
    theirs = torch.autograd.grad(loss_fn(twin(obs), actions), [p for n, p in twin.named_parameters() if n in names])
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))   # bitwise snnTorch's gradients
    func = L.HessianOperator(policy, loss_fn, (obs, actions), params=names, mode="forward-over-reverse")
    double = L.HessianOperator(policy, loss_fn, (obs, actions), params=names)
    torch.testing.assert_close(func.dense(), double.dense(), rtol=1e-4, atol=1e-5)
