"""neuroai.landscape non-convex lab: test functions, optimizer trajectories, critical points."""
import math

import numpy as np
import pytest
import torch

import neuroai.landscape as L
from neuroai.plotting import contour_paths

pytestmark = pytest.mark.usefixtures("one_thread")

# every registered function, in its default dimension and (where it has one) a higher one
CASES = [(name, 2) for name in L.BENCHMARK_FUNCTIONS] + [
    ("rosenbrock", 5), ("rastrigin", 1), ("rastrigin", 4), ("ackley", 3), ("styblinski_tang", 3)]


def sgd(lr):
    return lambda params: torch.optim.SGD(params, lr=lr)


def lbfgs(params):
    return torch.optim.LBFGS(params, line_search_fn="strong_wolfe")


# ---------------------------------------------------------------- test functions

@pytest.mark.parametrize("name, dim", CASES)
def test_value_and_gradient_at_the_known_minima(name, dim):
    f = L.benchmark_function(name, dim)
    assert f.name == name and f.dim == dim
    for m in f.minima:
        x = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        value = f(x)
        (g,) = torch.autograd.grad(value, x)
        assert value.item() == pytest.approx(f.minimum_value, rel=1e-12, abs=1e-12)
        torch.testing.assert_close(g, torch.zeros(dim, dtype=torch.float64), atol=1e-9, rtol=0)
        assert all(lo <= v <= hi for v, (lo, hi) in zip(m, f.bounds))
    assert all(lo <= v <= hi for v, (lo, hi) in zip(f.start, f.bounds))


@pytest.mark.parametrize("name", [n for n in L.BENCHMARK_FUNCTIONS if L.benchmark_function(n).minima])
def test_minimum_is_global_on_a_grid(name):
    f = L.benchmark_function(name)
    axes = [np.linspace(lo, hi, 201) for lo, hi in f.bounds]
    grid = np.stack(np.meshgrid(*axes), axis=-1)
    assert f(grid).min().item() >= f.minimum_value - 1e-12


def test_known_minima_counts():
    assert len(L.himmelblau().minima) == 4
    assert L.saddle().minima == () and L.saddle().minimum_value is None
    assert L.monkey_saddle().minima == () and L.monkey_saddle().minimum_value is None
    assert L.styblinski_tang(3).minimum_value == pytest.approx(-39.16616570377142 * 3)
    assert L.rosenbrock(4).start == (-1.2, 1.0, -1.2, 1.0)


@pytest.mark.parametrize("name, point, expected", [
    ("rosenbrock", (0.0, 0.0), 1.0),
    ("rosenbrock", (-1.2, 1.0), 100 * (1 - 1.44) ** 2 + 2.2 ** 2),     # 24.2
    ("beale", (0.0, 0.0), 1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2),            # 14.203125
    ("beale", (1.0, 0.0), 0.5 ** 2 + 1.25 ** 2 + 1.625 ** 2),            # 4.453125
    ("himmelblau", (0.0, 0.0), 11 ** 2 + 7 ** 2),                        # 170
    ("rastrigin", (1.0, 0.5), 20 + (1 - 10) + (0.25 + 10)),              # 21.25
    ("ackley", (1.0, 1.0), 20 * (1 - math.exp(-0.2))),                   # cos(2 pi) = 1: the e terms cancel
    ("styblinski_tang", (2.0, -1.0), 0.5 * ((16 - 64 + 10) + (1 - 16 - 5))),  # -29
    ("saddle", (2.0, 3.0), 4 - 9),
    ("monkey_saddle", (2.0, 1.0), 8 - 3 * 2 * 1),
])
def test_values_at_hand_computed_points(name, point, expected):
    assert L.benchmark_function(name)(point).item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_higher_dimensional_values():
    assert L.rosenbrock(3)([0.0, 0.0, 0.0]).item() == pytest.approx(2.0)
    assert L.rastrigin(1)([0.5]).item() == pytest.approx(20.25)
    assert L.styblinski_tang(3)([1.0, 1.0, 1.0]).item() == pytest.approx(-15.0)


@pytest.mark.parametrize("name, dim", CASES)
def test_batched_shapes_dtypes_and_inputs(name, dim):
    f = L.benchmark_function(name, dim)
    x = torch.rand(4, 3, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values = f(x)
    assert values.shape == (4, 3) and values.dtype == torch.float64
    values32 = f(x.float())
    assert values32.dtype == torch.float32
    torch.testing.assert_close(values32.double(), values, rtol=1e-5, atol=1e-5)
    from_numpy = f(x.numpy())
    assert from_numpy.dtype == torch.float64
    torch.testing.assert_close(from_numpy, values)
    assert f(x[0, 0].tolist()).item() == values[0, 0].item()


def test_unknown_names_and_unsupported_dimensions():
    with pytest.raises(ValueError, match=r"benchmark_function: parameter 'name'.*'rosenbrock'.*'himmelblau'"):
        L.benchmark_function("rosenbrok")
    with pytest.raises(ValueError, match=r"rosenbrock: parameter 'dim' must be >= 2, got 1"):
        L.benchmark_function("rosenbrock", dim=1)
    with pytest.raises(ValueError, match=r"beale: parameter 'dim' must be one of \[2\], got 3"):
        L.benchmark_function("beale", dim=3)
    with pytest.raises(TypeError, match="dim"):
        L.rastrigin(2.5)
    with pytest.raises(ValueError, match=r"parameter 'x' must be of shape \[\.\.\., 2\], got shape \(3,\)"):
        L.himmelblau()([1.0, 2.0, 3.0])


def test_benchmark_function_validates_its_fields():
    fields = dict(name="quad", fn=lambda x: (x ** 2).sum(-1), dim=2, minima=((0.0, 0.0),), minimum_value=0.0,
                  bounds=((-1, 1), (-1, 1)), start=(1, 1))
    f = L.BenchmarkFunction(**fields)
    assert f.bounds == ((-1.0, 1.0), (-1.0, 1.0)) and f.start == (1.0, 1.0)
    with pytest.raises(ValueError, match="'minima' must be of shape"):
        L.BenchmarkFunction(**{**fields, "minima": ((0.0,),)})
    with pytest.raises(ValueError, match="'minima' and 'minimum_value'"):
        L.BenchmarkFunction(**{**fields, "minimum_value": None})
    with pytest.raises(ValueError, match="low < high"):
        L.BenchmarkFunction(**{**fields, "bounds": ((1, -1), (-1, 1))})
    with pytest.raises(ValueError, match="'start' must be of shape"):
        L.BenchmarkFunction(**{**fields, "start": (1.0,)})
    with pytest.raises(TypeError, match="'fn' must be callable"):
        L.BenchmarkFunction(**{**fields, "fn": 3})


# ---------------------------------------------------------------- critical points

def test_himmelblau_critical_points():
    f = L.himmelblau()
    found = L.critical_points(f)
    kinds = [c.kind for c in found]
    assert sorted(kinds) == sorted(["minimum"] * 4 + ["maximum"] + ["saddle"] * 4)
    assert [c.value for c in found] == sorted(c.value for c in found)
    minima = np.array([c.point for c in found if c.kind == "minimum"])
    for m in f.minima:
        assert np.min(np.linalg.norm(minima - m, axis=1)) < 1e-8
    (maximum,) = [c for c in found if c.kind == "maximum"]
    np.testing.assert_allclose(maximum.point, [-0.270845, -0.923039], atol=1e-6)
    assert maximum.value == pytest.approx(181.617, abs=1e-3)
    assert all(c.gradient_norm <= 1e-8 for c in found)
    for c in found:
        signs = np.sign(c.eigenvalues)
        assert {"minimum": [1, 1], "maximum": [-1, -1], "saddle": [-1, 1]}[c.kind] == signs.tolist()


def test_critical_points_are_seeded_and_respect_bounds():
    f = L.himmelblau()
    a, b = L.critical_points(f, seed=3), L.critical_points(f, seed=3)
    np.testing.assert_array_equal([c.point for c in a], [c.point for c in b])
    right = L.critical_points(f, bounds=((0, 5), (-5, 5)))
    assert all(c.point[0] >= 0 for c in right)
    assert sorted(c.kind for c in right) == ["minimum", "minimum", "saddle", "saddle"]
    assert L.critical_points(f, bounds=((10, 11), (10, 11))) == []


def test_saddles():
    (s,) = L.critical_points(L.saddle())
    assert s.kind == "saddle"
    np.testing.assert_allclose(s.point, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s.eigenvalues, [-2.0, 2.0])
    monkey = L.classify(L.monkey_saddle(), (0.0, 0.0))
    assert monkey.kind == "degenerate" and monkey.gradient_norm == 0.0
    np.testing.assert_allclose(monkey.eigenvalues, [0.0, 0.0])
    (m,) = L.critical_points(L.monkey_saddle())   # Newton converges only linearly here
    assert m.kind == "degenerate" and np.linalg.norm(m.point) < 1e-6


def test_classify_matches_the_hand_computed_hessian():
    c = L.classify(L.rosenbrock(), (1.0, 1.0))
    # H = [[1200 x^2 - 400 y + 2, -400 x], [-400 x, 200]] at (1, 1)
    np.testing.assert_allclose(c.eigenvalues, np.linalg.eigvalsh([[802.0, -400.0], [-400.0, 200.0]]))
    assert c.kind == "minimum" and c.value == 0.0 and c.gradient_norm == 0.0
    assert L.classify(L.himmelblau(), (-0.2708445906673476, -0.9230385564799816)).kind == "maximum"
    off = L.classify(L.rosenbrock(), (0.0, 0.0))   # not critical: the gradient says so
    assert off.gradient_norm == pytest.approx(2.0)
    assert L.classify(L.saddle(), (0, 0), tol=3.0).kind == "degenerate"


def test_critical_point_arguments():
    with pytest.raises(ValueError, match="critical_points: parameter 'n_starts' must be >= 1, got 0"):
        L.critical_points(L.himmelblau(), n_starts=0)
    with pytest.raises(ValueError, match="low < high"):
        L.critical_points(L.himmelblau(), bounds=((1, 0), (0, 1)))
    with pytest.raises(ValueError, match=r"classify: parameter 'point' must be of shape \(2,\)"):
        L.classify(L.himmelblau(), (0.0, 0.0, 0.0))
    with pytest.raises(TypeError, match="BenchmarkFunction"):
        L.classify(lambda x: x, (0.0,))


# ---------------------------------------------------------------- trajectories

def test_sgd_versus_lbfgs_on_rosenbrock():
    f = L.rosenbrock()
    slow = L.trajectory(f, sgd(1e-3), steps=1000)
    fast = L.trajectory(f, lbfgs, steps=100)
    assert not slow.converged and not slow.diverged and slow.steps == 1000
    assert slow.values[-1] < slow.values[0] / 4
    assert fast.converged and fast.steps == fast.steps_to_tol <= 10
    assert fast.values[-1] <= 1e-6 and np.all(fast.values[:-1] > 1e-6)
    np.testing.assert_allclose(fast.points[-1], [1.0, 1.0], atol=1e-2)
    assert fast.evaluations < slow.evaluations == 1000
    assert slow.seconds_per_step > 0 and fast.seconds_per_step > 0


def test_trajectory_records_the_path():
    f = L.rosenbrock()
    run = L.trajectory(f, sgd(1e-3), steps=5)
    assert run.points.shape == (6, 2) and run.values.shape == run.grad_norms.shape == (6,)
    np.testing.assert_array_equal(run.points[0], [-1.2, 1.0])
    x = torch.tensor(run.points, requires_grad=True)
    values = f(x)
    (g,) = torch.autograd.grad(values.sum(), x)
    np.testing.assert_allclose(run.values, values.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(run.grad_norms, g.norm(dim=1).numpy(), rtol=1e-14)
    # plain gradient descent: x_{k+1} = x_k - lr grad f(x_k)
    np.testing.assert_allclose(run.points[1:], run.points[:-1] - 1e-3 * g[:-1].numpy(), rtol=1e-14)


def test_trajectory_is_deterministic_and_takes_dtype():
    f = L.himmelblau()
    adam = lambda params: torch.optim.Adam(params, lr=0.05)  # noqa: E731
    a, b = L.trajectory(f, adam, steps=200), L.trajectory(f, adam, steps=200)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.steps_to_tol == b.steps_to_tol
    single = L.trajectory(f, adam, steps=200, dtype=torch.float32)
    assert single.points.dtype == np.float64
    np.testing.assert_allclose(single.points[:20], a.points[:20], atol=1e-4)


def test_start_at_the_minimum_takes_no_step():
    run = L.trajectory(L.beale(), sgd(1e-3), start=(3.0, 0.5))
    assert run.steps == 0 and run.steps_to_tol == 0 and run.converged
    assert math.isnan(run.seconds_per_step) and run.evaluations == 0


def test_saddle_escape_time():
    lr, offset, radius = 0.1, 1e-6, 0.1
    run = L.trajectory(L.saddle(), sgd(lr), start=(0.0, offset), steps=200)
    # gradient descent on x^2 - y^2: y_k = offset (1 + 2 lr)^k, so |y_k - y_0| > radius first at
    expected = math.floor(math.log(1 + radius / offset) / math.log(1 + 2 * lr)) + 1
    assert L.escape_time(run, radius) == expected == 64
    assert run.steps_to_tol is None and not run.converged
    closer = L.trajectory(L.saddle(), sgd(lr), start=(0.0, offset / 1000), steps=200)
    assert L.escape_time(closer, radius) > expected
    assert L.escape_time(L.trajectory(L.saddle(), sgd(lr), start=(0.0, offset), steps=10), radius) is None


def test_divergence_is_reported_not_raised():
    run = L.trajectory(L.rosenbrock(), sgd(1.0), steps=100)
    assert run.diverged and not run.converged and run.steps < 100
    assert not np.isfinite(run.values[-1]) and np.all(np.isfinite(run.values[:-1]))
    assert L.escape_time(run, 10.0) is not None
    # the saddle is unbounded below: a long enough run overflows to -inf
    assert L.trajectory(L.saddle(), sgd(0.1), steps=3000).diverged
    # in float32, gradient norms are taken in float64: a gradient of 3e22 has a norm float32 cannot square
    lbfgs = lambda params: torch.optim.LBFGS(params, lr=0.01, line_search_fn="strong_wolfe")  # noqa: E731
    run = L.trajectory(L.monkey_saddle(), lbfgs, start=(0.0, 1.0), steps=6, dtype=torch.float32)
    assert run.diverged and run.steps == 3
    assert np.all(np.isfinite(run.grad_norms[:-1])) and run.grad_norms[2] > 1e22


def test_trajectory_arguments():
    f = L.rosenbrock()
    with pytest.raises(ValueError, match="trajectory: parameter 'steps' must be >= 1, got 0"):
        L.trajectory(f, sgd(1e-3), steps=0)
    with pytest.raises(ValueError, match=r"trajectory: parameter 'start' must be of shape \(2,\)"):
        L.trajectory(f, sgd(1e-3), start=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="trajectory: parameter 'tol' must be >= 0"):
        L.trajectory(f, sgd(1e-3), tol=-1.0)
    with pytest.raises(TypeError, match="must return a torch.optim.Optimizer"):
        L.trajectory(f, lambda params: None)
    with pytest.raises(TypeError, match="'dtype' must be a floating torch.dtype"):
        L.trajectory(f, sgd(1e-3), dtype=torch.int64)
    with pytest.raises(ValueError, match="escape_time: parameter 'radius' must be > 0"):
        L.escape_time(L.trajectory(f, sgd(1e-3), steps=1), 0.0)


# ---------------------------------------------------------------- plotting

def test_contour_paths():
    from matplotlib.figure import Figure

    f = L.rosenbrock()
    runs = {"SGD": L.trajectory(f, sgd(1e-3), steps=50), "L-BFGS": L.trajectory(f, lbfgs, steps=20)}
    ax = Figure().add_subplot()
    assert contour_paths(ax, f, runs) is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["SGD", "L-BFGS", "global minimum"]
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), runs["SGD"].points)
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 3.0)
    assert ax.collections[0].norm.__class__.__name__ == "LogNorm"
    linear = Figure().add_subplot()
    contour_paths(linear, L.styblinski_tang(), {})   # takes negative values: linear levels
    assert linear.collections[0].norm.__class__.__name__ == "Normalize"
    with pytest.raises(ValueError, match="two-dimensional"):
        contour_paths(Figure().add_subplot(), L.rastrigin(3), {})


def test_escape_time_measures_from_a_given_center():
    # a path up the line x = 1 from (1, 0) to (1, 3): 1 unit from its start after step 1, but its distance from the
    # origin exceeds 2 only once y^2 > 3
    from neuroai.landscape.trajectories import Trajectory
    points = np.array([[1.0, 0.0], [1.0, 1.5], [1.0, 2.0], [1.0, 3.0]])
    path = Trajectory(points=points, values=np.zeros(4), grad_norms=np.zeros(4), steps_to_tol=None, evaluations=3,
                      seconds_per_step=0.0, diverged=False)
    assert L.escape_time(path, 1.0) == 1
    assert L.escape_time(path, 2.0, center=(0.0, 0.0)) == 2
    with pytest.raises(ValueError, match="parameter 'center' must be of shape"):
        L.escape_time(path, 1.0, center=(0.0,))
