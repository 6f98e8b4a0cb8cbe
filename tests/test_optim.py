"""Optimizers of neuroai.optim."""
import pytest
import torch

from neuroai.optim import Langevin


def quadratic(theta, curvature):
    return 0.5 * (curvature * theta**2).sum()


def test_zero_temperature_is_gradient_descent():
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    b = torch.nn.Parameter(a.detach().clone())
    curvature = torch.tensor([1.0, 2.0, 3.0])
    opt_a, opt_b = Langevin([a], lr=0.1, temperature=0.0, weight_decay=0.01), \
        torch.optim.SGD([b], lr=0.1, weight_decay=0.01)
    for _ in range(20):
        for p, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            quadratic(p, curvature).backward()
            opt.step()
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_samples_the_gibbs_distribution_of_a_quadratic():
    # exp(-L/T) with L = a theta^2 / 2 is a Gaussian of variance T/a per coordinate
    torch.manual_seed(0)
    curvature = torch.tensor([1.0, 4.0])
    theta = torch.nn.Parameter(torch.zeros(2000, 2))
    opt = Langevin([theta], lr=0.01, temperature=0.5, seed=1)
    samples = []
    for step in range(600):
        opt.zero_grad()
        quadratic(theta, curvature).backward()
        opt.step()
        if step >= 300:
            samples.append(theta.detach().clone())
    var = torch.cat(samples).var(dim=0)
    # the discretization shrinks T/a by a factor 1/(1 - lr a / 2)
    expected = 0.5 / curvature / (1 - 0.01 * curvature / 2)
    torch.testing.assert_close(var, expected, rtol=0.05, atol=0)


def test_seeded_and_resumable():
    def run(steps, opt_state=None, start=None):
        theta = torch.nn.Parameter(torch.ones(5) if start is None else start.clone())
        opt = Langevin([theta], lr=0.05, temperature=0.1, seed=7)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
        for _ in range(steps):
            opt.zero_grad()
            quadratic(theta, torch.ones(5)).backward()
            opt.step()
        return theta.detach(), opt.state_dict()

    full, _ = run(10)
    again, _ = run(10)
    torch.testing.assert_close(full, again, rtol=0, atol=0)
    half, state = run(5)
    resumed, _ = run(5, state, half)
    torch.testing.assert_close(resumed, full, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, text", [
    (dict(lr=0.0), "Langevin: parameter 'lr' must be > 0, got 0.0"),
    (dict(temperature=-1.0), "Langevin: parameter 'temperature' must be >= 0, got -1.0"),
    (dict(seed=-3), "Langevin: parameter 'seed' must be >= 0, got -3"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        Langevin([torch.nn.Parameter(torch.zeros(1))], **kwargs)


# --- the suite: registry, hyper-parameters, state dicts ------------------------------------------------------

import copy  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
from scipy import optimize as sp  # noqa: E402

from neuroai.optim import (BFGS, OPTIMIZERS, SVRG, LineSearchGD, Newton, NewtonCG,  # noqa: E402
                           backtracking, full_batch_closure, make_optimizer)

pytestmark = pytest.mark.usefixtures("one_thread")


def least_squares(seed=0, n=60, d=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x @ torch.randn(d, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return x, y


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()


def build(name, model, loss_of):
    hyper = {}
    if name == "svrg":
        hyper = dict(full_closure=lambda: _backward(model, loss_of, False), snapshot_every=3)
    return make_optimizer(name, model.parameters(), **hyper)


def _backward(model, loss_of, create_graph):
    model.zero_grad(set_to_none=True)
    loss = loss_of(model)
    loss.backward(create_graph=create_graph)
    return loss


def run_steps(opt, model, loss_of, steps):
    create_graph = bool(getattr(opt, "create_graph", False))
    for _ in range(steps):
        opt.step(lambda: _backward(model, loss_of, create_graph))


@pytest.mark.parametrize("name", sorted(n for n, spec in OPTIMIZERS.items() if spec.takes == "any"))
def test_every_optimizer_trains_and_resumes_from_its_state_dict(name):
    x, y = least_squares()

    def loss_of(model):
        return torch.nn.functional.mse_loss(model(x).squeeze(1), y)

    model = tiny_net()
    opt = build(name, model, loss_of)
    start = float(loss_of(model).detach())
    run_steps(opt, model, loss_of, 6)
    assert float(loss_of(model).detach()) < start, f"{name} did not reduce the loss"

    reference = tiny_net()
    ref_opt = build(name, reference, loss_of)
    run_steps(ref_opt, reference, loss_of, 3)
    saved_model, saved_opt = copy.deepcopy(reference.state_dict()), copy.deepcopy(ref_opt.state_dict())
    run_steps(ref_opt, reference, loss_of, 3)

    resumed = tiny_net(seed=1)
    resumed.load_state_dict(saved_model)
    res_opt = build(name, resumed, loss_of)
    res_opt.load_state_dict(saved_opt)
    run_steps(res_opt, resumed, loss_of, 3)
    for a, b in zip(resumed.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_registry_entries_are_the_methods_they_name():
    p = [torch.nn.Parameter(torch.zeros(2))]
    nesterov = make_optimizer("nesterov", p)
    assert isinstance(nesterov, torch.optim.SGD) and nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.9
    assert make_optimizer("momentum", p, momentum=0.5).defaults["momentum"] == 0.5
    assert make_optimizer("lbfgs", p).defaults["line_search_fn"] == "strong_wolfe"
    assert make_optimizer("goldstein", p).defaults["condition"] == "goldstein"
    assert OPTIMIZERS["gd"].full_batch and not OPTIMIZERS["sgd"].full_batch
    assert OPTIMIZERS["newton"].create_graph and OPTIMIZERS["bfgs"].requires_closure
    assert OPTIMIZERS["lbfgs"].requires_closure and not OPTIMIZERS["adam"].requires_closure


@pytest.mark.parametrize("name, hyper, error, text", [
    ("adamm", {}, ValueError, r"unknown optimizer 'adamm'; the suite has \['adadelta'"),
    ("sgd", dict(lr=-0.1), ValueError, r"make_optimizer\('sgd'\): parameter 'lr' must be finite and > 0, got -0.1"),
    ("adam", dict(lr=float("inf")), ValueError, r"make_optimizer\('adam'\): parameter 'lr' must be finite and > 0"),
    ("lbfgs", dict(history_size=0), ValueError, r"parameter 'history_size' must be an integer >= 1, got 0"),
    ("momentum", dict(momentum=1.0), ValueError, r"parameter 'momentum' must be in \[0, 1\), got 1.0"),
    ("adam", dict(betas=(0.9, 1.2)), ValueError, r"parameter 'betas' must be a pair of numbers in \[0, 1\)"),
    ("rmsprop", dict(alpha=-0.5), ValueError, r"parameter 'alpha' must be in \[0, 1\)"),
    ("adagrad", dict(weight_decay=-1), ValueError, r"parameter 'weight_decay' must be >= 0"),
    ("nesterov", dict(nesterov=False), ValueError, r"\['nesterov'\] define this entry"),
    ("adam", dict(momentum=0.9), TypeError, r"unknown hyper-parameters \['momentum'\]; Adam accepts \["),
    ("newton", dict(lr=0), ValueError, r"make_optimizer\('newton'\): parameter 'lr' must be finite and > 0, got 0"),
    ("newton_cg", dict(cg_max_iter=0), ValueError, r"NewtonCG: parameter 'cg_max_iter' must be >= 1"),
    ("bfgs", dict(c=1.5), ValueError, r"BFGS: parameter 'c' must be in \(0, 1\.0\)"),
    ("goldstein", dict(c=0.7), ValueError, r"parameter 'c' must be in \(0, 0\.5\) for the goldstein condition"),
    ("armijo", dict(shrink=1.0), ValueError, r"LineSearchGD: parameter 'shrink' must be in \(0, 1\)"),
    ("armijo_full_relaxation", dict(c=1.0), ValueError,
     r"LineSearchGD: parameter 'c' must be in \(0, 1\.0\) for the armijo_full_relaxation condition, got 1\.0"),
    ("armijo_full_relaxation", dict(c=0), ValueError, r"LineSearchGD: parameter 'c' must be > 0, got 0"),
    ("svrg", dict(full_closure=None), TypeError, r"SVRG: parameter 'full_closure' must be callable"),
    ("svrg", dict(lr=1e308, full_closure=lambda: 0), ValueError,
     r"make_optimizer\('svrg'\): parameter 'lr' must be at most 3.4e\+38 in magnitude, the largest number the parameters' dtype "
     r"\(torch.float32\) holds, got 1e\+308"),
])
def test_bad_hyper_parameters_are_named(name, hyper, error, text):
    with pytest.raises(error, match=text):
        make_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], **hyper)


def test_second_order_methods_take_one_group_and_need_a_closure():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="BFGS: works on the flat vector .* got 2 groups"):
        BFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(RuntimeError, match="Newton.step needs a closure"):
        Newton([a]).step()
    for opt in (Newton([a]), LineSearchGD([a], condition="armijo_full_relaxation")):
        def no_graph():
            opt.zero_grad()
            loss = ((a - 1) ** 2).sum()
            loss.backward()
            return loss
        with pytest.raises(RuntimeError, match=rf"{type(opt).__name__}: the gradient carries no graph .* closure "
                                               r"must call loss.backward\(create_graph=True\)"):
            opt.step(no_graph)


# --- line searches ---------------------------------------------------------------------------------------

def test_armijo_backtracking_accepts_the_first_sufficient_decrease():
    # phi(t) = (1 - t)^2, phi(0) = 1, slope -2, c = 0.1: t = 4 (9 > 0.2) and t = 2 (1 > 0.6) are too
    # long, t = 1 (0 <= 0.8) is accepted after 3 evaluations
    result = backtracking(lambda t: (1 - t) ** 2, 1.0, -2.0, 4.0, c=0.1, shrink=0.5)
    assert (result.step, result.loss, result.evaluations, result.success) == (1.0, 0.0, 3, True)


def test_goldstein_expands_steps_that_are_too_short():
    # c = 0.25: t = 0.1, 0.2, 0.4 decrease less than (1 - c) t slope requires (0.81 < 0.85, 0.64 < 0.7,
    # 0.36 < 0.4: too short), t = 0.8 (0.04 in [-0.2, 0.6]) is accepted after 4 evaluations
    result = backtracking(lambda t: (1 - t) ** 2, 1.0, -2.0, 0.1, c=0.25, shrink=0.5, condition="goldstein")
    assert (result.step, result.evaluations) == (pytest.approx(0.8), 4)
    armijo = backtracking(lambda t: (1 - t) ** 2, 1.0, -2.0, 0.1, c=0.25, shrink=0.5)
    assert armijo.step == 0.1


def test_failed_line_search_leaves_the_parameters_where_they_were():
    x = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = LineSearchGD([x], lr=1.0, max_evaluations=3)

    def closure():
        x.grad = torch.tensor([-1.0], dtype=torch.float64)  # says "go right"...
        return (1e6 * (x.detach() - 1).abs()).sum()        # ...but the loss rises on both sides of 1
    opt.step(closure)
    assert float(x.detach()) == 1.0 and opt.state[x]["last_step"] == 0.0


def test_line_search_counts_the_evaluation_at_a_stationary_point():
    x = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = LineSearchGD([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x ** 2).sum()
        loss.backward()
        return loss
    for _ in range(3):
        opt.step(closure)
    assert opt.state[x]["evaluations"] == len(calls) == 3 and opt.state[x]["last_step"] == 0.0


def quadratic_problem(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.logspace(0, 2, n, dtype=torch.float64)) @ q.T   # condition number 100
    b = torch.randn(n, generator=g, dtype=torch.float64)
    return a, b, torch.linalg.solve(a, b)


def minimize(opt, x, f, steps):
    create_graph = bool(getattr(opt, "create_graph", False))
    losses = []

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward(create_graph=create_graph)
        return loss
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
    return losses


def test_armijo_gd_decreases_monotonically_and_converges_linearly():
    a, b, solution = quadratic_problem()
    x = torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64))
    opt = LineSearchGD([x], lr=1.0)
    losses = minimize(opt, x, lambda v: 0.5 * v @ a @ v - b @ v, 1000)
    # monotone, up to the rounding error the sufficient-decrease test tolerates (8 eps |f|)
    assert all(later <= earlier + 8 * 2.3e-16 * abs(earlier) for earlier, later in zip(losses, losses[1:]))
    # steepest descent with any step accepted by Armijo contracts f - f* geometrically
    assert torch.linalg.norm(x.detach() - solution) < 1e-7
    assert opt.state[x]["evaluations"] > 2000  # it backtracked: the first trial step 1 exceeds 2 / L = 0.02


def test_full_relaxation_accepts_the_model_minimizer_where_armijo_with_a_large_c_refuses_it():
    # phi(t) = (1 - t)^2, slope -2, curvature 2: the model is exact and its minimizer t* = 1 decreases phi by
    # all the model promises (1 <= 1 - c (2 - 1)), for every c < 1; Armijo asks for c t |slope| = 1.8 > 1
    full = backtracking(lambda t: (1 - t) ** 2, 1.0, -2.0, 1.0, c=0.9, condition="armijo_full_relaxation",
                        curvature=2.0)
    assert (full.step, full.loss, full.evaluations) == (1.0, 0.0, 1)
    assert backtracking(lambda t: (1 - t) ** 2, 1.0, -2.0, 1.0, c=0.9).step == 0.125


def steepest_descent_with_exact_line_search(a, b, x, steps):
    """The textbook iteration on 0.5 x.A.x - b.x: x <- x - t g, t = g.g / g.A.g."""
    for _ in range(steps):
        g = a @ x - b
        x = x - (g @ g) / (g @ a @ g) * g
    return x


def test_full_relaxation_is_steepest_descent_with_exact_line_search_on_a_quadratic():
    a, b, solution = quadratic_problem()
    x = torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64))
    opt = make_optimizer("armijo_full_relaxation", [x])
    assert opt.create_graph and not make_optimizer("armijo", [x]).create_graph
    for k in range(1, 41):
        g = a @ x.detach() - b
        exact = float(g @ g / (g @ a @ g))      # t* from A itself, not from autograd
        minimize(opt, x, lambda v: 0.5 * v @ a @ v - b @ v, 1)
        state = opt.state[x]
        assert state["full_relaxation_step"] == pytest.approx(exact, rel=1e-12, abs=0)
        assert state["curvature"] == pytest.approx(float(g @ a @ g), rel=1e-12, abs=0)
        assert state["last_step"] == state["full_relaxation_step"]          # accepted ...
        assert state["evaluations"] == 2 * k                                 # ... at the first trial
        assert x.grad is None or not x.grad.requires_grad                    # the graph was released
    expected = steepest_descent_with_exact_line_search(a, b, torch.zeros(len(b), dtype=torch.float64), 40)
    torch.testing.assert_close(x.detach(), expected, rtol=1e-12, atol=1e-14)
    assert torch.linalg.norm(x.detach() - solution) < torch.linalg.norm(solution)


def test_full_relaxation_descends_rosenbrock_to_its_minimum():
    # from the origin (from the standard start (-1.2, 1) the exact steps zigzag down the valley for thousands of steps)
    x = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = make_optimizer("armijo_full_relaxation", [x])
    losses = minimize(opt, x, rosenbrock, 1500)
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))
    assert float(torch.linalg.norm(x.detach() - 1)) < 1e-6


def test_full_relaxation_takes_lr_where_the_curvature_is_negative():
    # at (0.1, 0.5) g = (0.2, -0.875) and H = diag(2, -1.25): g.H.g < 0, the model has no minimum along -g
    x = torch.nn.Parameter(torch.tensor([0.1, 0.5], dtype=torch.float64))
    opt = make_optimizer("armijo_full_relaxation", [x], lr=0.5)
    before = float(saddle_with_minima(x.detach()))
    minimize(opt, x, saddle_with_minima, 1)
    state = opt.state[x]
    assert state["curvature"] == pytest.approx(0.2 ** 2 * 2 - 0.875 ** 2 * 1.25, rel=1e-12)
    assert state["full_relaxation_step"] == math.inf and state["last_step"] == 0.5
    assert float(saddle_with_minima(x.detach())) < before
    losses = minimize(opt, x, saddle_with_minima, 60)
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))
    torch.testing.assert_close(x.detach(), torch.tensor([0.0, math.sqrt(2)], dtype=torch.float64),
                               rtol=0, atol=1e-8)


# --- Newton, Newton-CG, BFGS ------------------------------------------------------------------------------

def test_newton_solves_a_quadratic_in_one_step():
    a, b, solution = quadratic_problem()
    x = torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64))
    minimize(Newton([x]), x, lambda v: 0.5 * v @ a @ v - b @ v, 1)
    torch.testing.assert_close(x.detach(), solution, rtol=0, atol=1e-10)


def test_newton_cg_converges_superlinearly_on_a_quadratic():
    a, b, solution = quadratic_problem()
    x = torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64))
    opt = NewtonCG([x])
    errors = []
    for _ in range(6):
        minimize(opt, x, lambda v: 0.5 * v @ a @ v - b @ v, 1)
        errors.append(float(torch.linalg.norm(x.detach() - solution)))
    # inexact Newton steps with the forcing term min(0.5, sqrt|g|): to machine precision in a few steps
    # where gradient descent needs hundreds (condition number 100)
    assert errors[-1] < 1e-12 and errors[0] > 0.1
    assert opt.state[x]["cg_iterations"] <= len(b)


def saddle_with_minima(v):
    # a saddle at 0 and minima at (0, +-sqrt 2)
    return v[0] ** 2 - v[1] ** 2 + v[1] ** 4 / 4


def test_saddle_free_newton_descends_from_a_saddle_region():
    # from (0.5, 0.1) the pure Newton step would jump to the saddle; the saddle-free one descends to a minimum
    x = torch.nn.Parameter(torch.tensor([0.5, 0.1], dtype=torch.float64))
    opt = Newton([x])
    minimize(opt, x, saddle_with_minima, 1)
    assert opt.state[x]["indefinite"]
    losses = minimize(opt, x, saddle_with_minima, 30)
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))
    torch.testing.assert_close(x.detach(), torch.tensor([0.0, math.sqrt(2)], dtype=torch.float64),
                               rtol=0, atol=1e-8)
    assert not opt.state[x]["indefinite"]  # near the minimum the Hessian is positive definite again


def test_pure_newton_is_attracted_to_the_saddle():
    x = torch.nn.Parameter(torch.tensor([0.5, 0.1], dtype=torch.float64))
    minimize(Newton([x], saddle_free=False, line_search=False), x, saddle_with_minima, 20)
    torch.testing.assert_close(x.detach(), torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-10)


def test_saddle_free_step_where_the_hessian_is_negative_definite():
    # at a maximum region H = diag(-42, -26)-like: the direction must descend with a sane length
    # (a damping that lands exactly on -lambda_min would make it explode)
    x = torch.nn.Parameter(torch.tensor([0.1, -0.2], dtype=torch.float64))
    opt = Newton([x])
    f = lambda v: -21 * v[0] ** 2 - 13 * v[1] ** 2  # noqa: E731
    minimize(opt, x, f, 1)
    # |H| = diag(42, 26): the step -g/|lambda| doubles the distance from the maximum, once
    torch.testing.assert_close(x.detach(), torch.tensor([0.2, -0.4], dtype=torch.float64), rtol=0, atol=1e-12)


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def iterations_to(opt, x, f, tol, limit=500):
    minimize_steps = 0
    while float(torch.linalg.norm(x.detach() - 1)) > tol and minimize_steps < limit:
        minimize(opt, x, f, 1)
        minimize_steps += 1
    return minimize_steps


@pytest.mark.parametrize("ours, theirs, hess", [(BFGS, "BFGS", None), (Newton, "trust-exact", sp.rosen_hess)])
def test_rosenbrock_side_by_side_with_scipy(ours, theirs, hess):
    x = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    steps = iterations_to(ours([x]), x, rosenbrock, 1e-6)
    reference = sp.minimize(sp.rosen, [-1.2, 1.0], jac=sp.rosen_der, hess=hess, method=theirs, tol=1e-10)
    assert np.abs(reference.x - 1).max() < 1e-6
    assert float(torch.linalg.norm(x.detach() - 1)) <= 1e-6
    assert steps <= 2 * reference.nit, (steps, reference.nit)


def test_bfgs_inverse_hessian_learns_the_quadratic():
    a, b, solution = quadratic_problem(n=5)
    x = torch.nn.Parameter(torch.zeros(len(b), dtype=torch.float64))
    opt = BFGS([x])
    minimize(opt, x, lambda v: 0.5 * v @ a @ v - b @ v, 40)
    torch.testing.assert_close(x.detach(), solution, rtol=0, atol=1e-8)
    # along the directions explored, H approximates A^-1 (the secant equation holds for the last step)
    h = opt.state[x]["inverse_hessian"]
    assert torch.allclose(h, h.T) and torch.linalg.eigvalsh(h).min() > 0


# --- SVRG ------------------------------------------------------------------------------------------------

def test_svrg_converges_linearly_where_sgd_stalls():
    x, y = least_squares(n=200, d=5)
    solution = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 200, 10)]

    def fit(kind):
        w = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
        model = lambda inputs: inputs @ w  # noqa: E731
        full = lambda: _backward_fn(w, lambda: torch.mean((model(x) - y) ** 2))  # noqa: E731
        opt = SVRG([w], full, lr=0.05, snapshot_every=20) if kind == "svrg" else torch.optim.SGD([w], lr=0.05)
        order = np.random.default_rng(0)
        for _ in range(40):
            for i in order.permutation(len(batches)):
                xb, yb = batches[i]
                opt.step(lambda: _backward_fn(w, lambda: torch.mean((model(xb) - yb) ** 2)))
        return float(torch.linalg.norm(w.detach() - solution))

    assert fit("svrg") < 1e-8
    assert fit("sgd") > 1e-3


def test_svrg_leaves_the_gradient_it_stepped_with():
    x, y = least_squares(n=40, d=3)
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    loss_of = lambda xs, ys: torch.mean((xs @ w - ys) ** 2)  # noqa: E731
    opt = SVRG([w], lambda: _backward_fn(w, lambda: loss_of(x, y)), lr=0.1, snapshot_every=5)
    before = w.detach().clone()
    opt.step(lambda: _backward_fn(w, lambda: loss_of(x[:8], y[:8])))   # the first step: snapshot at w
    # at the snapshot the mini-batch terms cancel: the step took the full gradient, and p.grad holds it
    at = before.clone().requires_grad_()
    (full,) = torch.autograd.grad(torch.mean((x @ at - y) ** 2), at)
    torch.testing.assert_close(w.grad, full, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w.detach(), before - 0.1 * full, rtol=1e-12, atol=1e-14)


def _backward_fn(w, loss_fn):
    w.grad = None
    loss = loss_fn()
    loss.backward()
    return loss


# --- with the Trainer and full-batch closures ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["newton", "bfgs", "armijo", "armijo_full_relaxation"])
def test_trainer_drives_closure_and_second_order_methods(name):
    from torch.utils.data import DataLoader, TensorDataset

    from neuroai.training import Trainer
    x, y = least_squares(n=64)
    labels = (y > 0).long()
    loader = DataLoader(TensorDataset(x, labels), batch_size=64)
    model = torch.nn.Linear(4, 2).double()
    trainer = Trainer(model, torch.nn.CrossEntropyLoss(), make_optimizer(name, model.parameters()), progress=False)
    history = trainer.fit(loader, epochs=8)
    assert history[-1]["loss"] < history[0]["loss"] * 0.8


def test_full_batch_closure_is_the_gradient_of_the_mean_loss():
    from torch.utils.data import DataLoader, TensorDataset
    x, y = least_squares(n=50)
    model = torch.nn.Linear(4, 1).double()
    closure = full_batch_closure(model, torch.nn.MSELoss(), DataLoader(TensorDataset(x, y.unsqueeze(1)), batch_size=16))
    loss = closure()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    expected = torch.nn.functional.mse_loss(model(x), y.unsqueeze(1))
    expected.backward()
    torch.testing.assert_close(loss, expected.detach())
    for g, p in zip(grads, model.parameters()):
        torch.testing.assert_close(g, p.grad)


@pytest.mark.parametrize("params, error, text", [
    ([], ValueError, "'params' is empty: there is nothing to optimize"),
    (None, TypeError, "'params' must be an iterable of tensors or of param-group dicts .* got NoneType"),
    (torch.zeros(2), TypeError, "'params' must be an iterable .* got Tensor"),
    ([1.0], TypeError, "must hold tensors or param-group dicts, got float at position 0"),
    ([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": -1.0}], ValueError,
     r"parameter 'params\[0\]\['lr'\]' must be finite and > 0, got -1.0"),
])
def test_parameters_and_group_learning_rates_are_checked(params, error, text):
    with pytest.raises(error, match=text):
        make_optimizer("langevin", params)
