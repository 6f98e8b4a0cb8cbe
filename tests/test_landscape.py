"""neuroai.landscape: HVP-based spectra against the exact Hessian, sharpness, slices."""
import math

import pytest
import torch
from torch import nn

import neuroai.landscape as L


pytestmark = pytest.mark.usefixtures("one_thread")


def mse(out, target):  # written out: differentiable in every mode
    return ((out - target) ** 2).mean()


@pytest.fixture(scope="module")
def trained():
    """A small tanh MLP (61 parameters, float64) trained a little on a smooth regression."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 10), nn.Tanh(), nn.Linear(10, 1)).double()
    x = torch.randn(128, 4, generator=g, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        mse(model(x), y).backward()
        opt.step()
    return model, (x, y)


def exact_hessian(model, data, params=None):
    obj = L.Objective(model, mse, data, params=params)
    return torch.autograd.functional.hessian(obj.loss, obj.flat_params())


@pytest.fixture(scope="module")
def exact(trained):
    model, data = trained
    Hx = exact_hessian(model, data)
    return Hx, torch.linalg.eigvalsh(Hx)


# ---------------------------------------------------------------- Hessian-vector products

@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-forward", "auto"])
def test_hvp_matches_exact_hessian(trained, exact, mode):
    model, data = trained
    Hx, _ = exact
    H = L.HessianOperator(model, mse, data, mode=mode)
    v = torch.randn(H.num_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(H.matvec(v), Hx @ v)
    torch.testing.assert_close(H.dense(), Hx)


def test_mse_module_loss_works(trained, exact):
    model, data = trained
    H = L.HessianOperator(model, nn.MSELoss(), data)  # auto picks a mode that works
    torch.testing.assert_close(H.dense(), exact[0])


def test_batches_are_averaged_and_limited(trained):
    model, (x, y) = trained
    batches = [(x[:64], y[:64]), (x[64:], y[64:])]
    H2 = L.HessianOperator(model, mse, batches).dense()
    torch.testing.assert_close(H2, (exact_hessian(model, batches[0]) + exact_hessian(model, batches[1])) / 2)
    H1 = L.HessianOperator(model, mse, iter(batches), num_batches=1).dense()
    torch.testing.assert_close(H1, exact_hessian(model, batches[0]))


# ---------------------------------------------------------------- spectra

@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenvalues_match_exact(trained, exact, method):
    model, data = trained
    Hx, ev = exact
    vals, vecs = L.top_eigenvalues(model, mse, data, k=3, method=method, seed=0)
    assert vals.shape == (3,) and vecs.shape == (3, Hx.shape[0])
    assert abs(vals[0] - ev[-1]) <= 0.01 * abs(ev[-1])
    torch.testing.assert_close(vals, ev.flip(0)[:3], rtol=1e-3, atol=1e-6)
    residual = torch.linalg.vector_norm(vecs @ Hx - vals[:, None] * vecs, dim=1)
    assert (residual < 1e-2 * ev[-1]).all()


def test_magnitude_ordering_and_negative_spectrum(trained, exact):
    model, data = trained
    _, ev = exact
    neg = lambda out, target: -mse(out, target)  # noqa: E731  (spectrum negated)
    for method in ("lanczos", "power"):
        top = L.top_eigenvalues(model, neg, data, k=1, method=method, which="magnitude").eigenvalues
        assert abs(top[0] + ev[-1]) <= 0.01 * ev[-1]
        largest = L.top_eigenvalues(model, neg, data, k=1, method=method, which="largest").eigenvalues
        assert abs(largest[0] + ev[0]) <= 0.01 * ev[-1]


def test_hutchinson_trace(trained, exact):
    model, data = trained
    Hx, _ = exact
    tr = float(Hx.trace())
    est = L.hessian_trace(model, mse, data, num_probes=2000, seed=0)
    assert abs(est.trace - tr) <= 0.05 * abs(tr)
    assert abs(est.trace - tr) <= 4 * est.stderr
    assert est.samples.shape == (2000,)
    assert est.stderr == pytest.approx(float(est.samples.std()) / math.sqrt(2000))


def test_spectral_density(trained, exact):
    model, data = trained
    Hx, ev = exact
    n = Hx.shape[0]
    d = L.spectral_density(model, mse, data, num_runs=200, num_iter=n, seed=3)
    assert d.grid.shape == d.density.shape == (1000,)
    assert float(torch.trapezoid(d.density, d.grid)) == pytest.approx(1.0, abs=1e-3)
    assert float(torch.trapezoid(d.grid * d.density, d.grid)) == pytest.approx(d.mean(), rel=1e-4)
    # the first moment of the quadrature is exactly Hutchinson's estimate with the same probes
    hutch = L.hessian_trace(model, mse, data, num_probes=200, seed=3).trace
    assert d.mean() * n == pytest.approx(hutch, rel=1e-8)
    assert d.mean() == pytest.approx(float(Hx.trace()) / n, rel=0.15)
    # with n Lanczos steps the Ritz values are the eigenvalues
    assert float(d.nodes.max()) == pytest.approx(float(ev[-1]), rel=1e-6)
    torch.testing.assert_close(d.weights.sum(dim=1), torch.ones(200, dtype=torch.float64))


def test_per_layer_blocks(trained):
    model, data = trained
    groups = L.parameter_groups(model)
    assert groups == {"0": ["0.weight", "0.bias"], "2": ["2.weight", "2.bias"]}
    Hx = exact_hessian(model, data, params=groups["2"])
    assert Hx.shape == (11, 11)
    H = L.HessianOperator(model, mse, data, params="2")
    torch.testing.assert_close(H.dense(), Hx)
    top = L.top_eigenvalues(H, k=1).eigenvalues[0]
    assert float(top) == pytest.approx(float(torch.linalg.eigvalsh(Hx)[-1]), rel=1e-3)
    assert L.HessianOperator(model, mse, data, params=["0.bias"]).num_params == 10


def test_seeds_give_identical_numbers(trained):
    model, data = trained
    H = L.HessianOperator(model, mse, data)
    a, b = L.hessian_trace(H, num_probes=50, seed=7), L.hessian_trace(H, num_probes=50, seed=7)
    assert a.trace == b.trace and torch.equal(a.samples, b.samples)
    assert L.hessian_trace(H, num_probes=50, seed=8).trace != a.trace
    for method in ("lanczos", "power"):
        e1 = L.top_eigenvalues(H, k=2, method=method, seed=5)
        e2 = L.top_eigenvalues(H, k=2, method=method, seed=torch.Generator().manual_seed(5))
        assert torch.equal(e1.eigenvalues, e2.eigenvalues) and torch.equal(e1.eigenvectors, e2.eigenvectors)
    d1, d2 = L.spectral_density(H, num_runs=3, seed=1), L.spectral_density(H, num_runs=3, seed=1)
    assert torch.equal(d1.density, d2.density)
    s1 = L.keskar_sharpness(model, mse, data, seed=2, steps=5)
    s2 = L.keskar_sharpness(model, mse, data, seed=2, steps=5)
    assert s1.sharpness == s2.sharpness
    r1, r2 = L.loss_slice_1d(model, mse, data, seed=4), L.loss_slice_1d(model, mse, data, seed=4)
    assert torch.equal(r1.losses, r2.losses)


# ---------------------------------------------------------------- sharpness and flatness

def least_squares_model(scale: float):
    """A linear model at the exact least-squares minimum of inputs scaled by ``scale``
    (Hessian ``2 scale^2 X^T X / N``: the curvature grows with ``scale^2``)."""
    g = torch.Generator().manual_seed(11)
    x = scale * torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = x @ torch.randn(5, 1, generator=g, dtype=torch.float64) + 0.3 * torch.randn(200, 1, generator=g,
                                                                                      dtype=torch.float64)
    model = nn.Linear(5, 1).double()
    xa = torch.cat([x, torch.ones(200, 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(xa, y).solution
    with torch.no_grad():
        model.weight.copy_(sol[:5].T)
        model.bias.copy_(sol[5])
    return model, (x, y)


def test_sharpness_is_larger_for_sharper_quadratic():
    flat, sharp = least_squares_model(1.0), least_squares_model(3.0)
    s_flat = L.keskar_sharpness(*flat[:1], mse, flat[1], epsilon=1e-2, steps=10)
    s_sharp = L.keskar_sharpness(*sharp[:1], mse, sharp[1], epsilon=1e-2, steps=10)
    assert 0 < s_flat.sharpness < s_sharp.sharpness
    assert s_sharp.max_loss >= s_sharp.loss
    n = 6
    bound = 1e-2 * (L.Objective(sharp[0], mse, sharp[1]).flat_params().abs() + 1)
    assert s_sharp.perturbation.shape == (n,) and (s_sharp.perturbation.abs() <= bound + 1e-12).all()
    assert L.keskar_sharpness(flat[0], mse, flat[1], epsilon=0.0).sharpness == 0.0
    f_flat, f_sharp = L.flatness(flat[0], mse, flat[1]), L.flatness(sharp[0], mse, sharp[1])
    assert f_sharp.top_eigenvalue > 5 * f_flat.top_eigenvalue  # ~9x but for the unscaled bias
    assert f_sharp.mean_curvature > f_flat.mean_curvature and f_sharp.scaled_top > 0


# ---------------------------------------------------------------- slices

def loss_of(model, data):
    with torch.no_grad():
        return float(mse(model(data[0]), data[1]))


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(model, snap):
    for k, v in model.state_dict().items():
        assert torch.equal(v, snap[k]), k


def test_filter_normalized_direction():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3)).double()
    d = L.random_direction(model, seed=0)
    for name, p in model.named_parameters():
        if p.ndim <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            dims = tuple(range(1, p.ndim))
            torch.testing.assert_close(torch.linalg.vector_norm(d[name], dim=dims),
                                       torch.linalg.vector_norm(p.detach(), dim=dims))
    x, y = torch.randn(8, 2, 4, 4, dtype=torch.float64), torch.randint(0, 3, (8,))
    model.train()
    snap = snapshot(model)
    s = L.loss_slice_2d(model, nn.CrossEntropyLoss(), (x, y), alphas=[-0.5, 0, 0.5], betas=[0, 1])
    assert s.losses.shape == (3, 2) and torch.isfinite(s.losses).all()
    assert_same(model, snap)  # running statistics too
    assert model.training


def test_slices_minimum_at_origin_and_restore():
    model, data = least_squares_model(1.0)
    params_before = list(model.parameters())
    snap = snapshot(model)
    s1 = L.loss_slice_1d(model, mse, data, alphas=torch.linspace(-1, 1, 11), seed=0)
    assert s1.alphas.shape == s1.losses.shape == (11,)
    assert int(s1.losses.argmin()) == 5
    assert float(s1.losses[5]) == pytest.approx(loss_of(model, data))
    s2 = L.loss_slice_2d(model, mse, data, alphas=torch.linspace(-1, 1, 5), betas=torch.linspace(-1, 1, 7))
    assert s2.losses.shape == (5, 7)
    assert divmod(int(s2.losses.argmin()), 7) == (2, 3)
    assert_same(model, snap)
    assert all(a is b for a, b in zip(params_before, model.parameters()))


def test_slices_restore_after_error():
    model, data = least_squares_model(1.0)
    snap = snapshot(model)
    calls = []

    def failing(out, target):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return mse(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        L.loss_slice_1d(model, failing, data)
    assert_same(model, snap)


def test_linear_interpolation():
    (a, data), (b, _) = least_squares_model(1.0), (nn.Linear(5, 1).double(), None)
    snap_a, snap_b = snapshot(a), snapshot(b)
    r = L.linear_interpolation(a, b, mse, data, ts=torch.linspace(0, 1, 6))
    assert r.losses.shape == (6,)
    assert float(r.losses[0]) == pytest.approx(loss_of(a, data))
    assert float(r.losses[-1]) == pytest.approx(loss_of(b, data))
    assert int(r.losses.argmin()) == 0  # a is the global minimum of a convex loss
    assert_same(a, snap_a)
    assert_same(b, snap_b)
    with pytest.raises(ValueError, match="same parameter"):
        L.linear_interpolation(a, nn.Linear(4, 1).double(), mse, data)


# ---------------------------------------------------------------- errors

def test_clear_errors(trained):
    model, data = trained
    H = L.HessianOperator(model, mse, data)
    with pytest.raises(ValueError, match="top_eigenvalues: parameter 'k' must be >= 1, got 0"):
        L.top_eigenvalues(H, k=0)
    with pytest.raises(ValueError, match="k must be at most"):
        L.top_eigenvalues(H, k=H.num_params + 1)
    with pytest.raises(ValueError, match="method"):
        L.top_eigenvalues(H, method="arnoldi")
    with pytest.raises(ValueError, match="num_probes"):
        L.hessian_trace(H, num_probes=0)
    with pytest.raises(ValueError, match="epsilon"):
        L.keskar_sharpness(model, mse, data, epsilon=-1e-3)
    with pytest.raises(ValueError, match="data is empty"):
        L.HessianOperator(model, mse, [])
    with pytest.raises(ValueError, match="data is empty"):
        L.loss_slice_1d(model, mse, iter([]))
    with pytest.raises(ValueError, match="batch 0 is empty"):
        L.hessian_trace(model, mse, (data[0][:0], data[1][:0]))
    with pytest.raises(ValueError, match="num_batches"):
        L.HessianOperator(model, mse, data, num_batches=0)
    with pytest.raises(ValueError, match="params"):
        L.HessianOperator(model, mse, data, params=["nope.weight"])
    with pytest.raises(ValueError, match="give loss_fn"):
        L.hessian_trace(H, mse, data)
    with pytest.raises(ValueError, match="direction"):
        L.loss_slice_1d(model, mse, data, direction={"0.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        H.matvec(torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("which", ["largest", "magnitude"])
def test_lanczos_goes_on_past_an_invariant_subspace(which):
    """A Hessian of rank 2 (2 x x^T + 2 z z^T): the first Krylov space is invariant after two steps, and
    k = 4 eigenvalues need a restart orthogonal to it (the zeros)."""
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn(2, 6, generator=g, dtype=torch.float64)
    model = nn.Linear(6, 1, bias=False).double()
    data = (torch.stack([x, z]), torch.zeros(2, 1, dtype=torch.float64))
    loss = lambda out, target: ((out - target) ** 2).sum()  # noqa: E731
    exact = torch.linalg.eigvalsh(2 * (torch.outer(x, x) + torch.outer(z, z)))
    vals, vecs = L.top_eigenvalues(model, loss, data, k=4, which=which, seed=0)
    want = exact.flip(0)[:4]   # (all >= 0: the largest are the largest in magnitude)
    torch.testing.assert_close(vals, want, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(vecs @ vecs.T, torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-9)
