"""The open registry, the step protocol and SAM/ASAM.

pytorch-optimizer (the ``optimizers`` extra, installed by ``dev``) is the
independent reference: its SAM gives the same trajectory as neuroai's, and
the Trainer must drive its SAM, AdaHessian and Sophia-H.
"""
from __future__ import annotations

import copy
import inspect

import pytest
import pytorch_optimizer as po
from pytorch_optimizer.base.exception import NoClosureError
import torch
from torch.utils.data import DataLoader, TensorDataset

from neuroai.landscape import benchmark_function
from neuroai.optim import (ALIASES, OPTIMIZERS, SAM, Langevin, NewtonCG, StepProtocol, make_optimizer,
                           register_optimizer, step_protocol, take_step)
from neuroai.training import Trainer


def net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()


def data(seed=0, n=96):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    return x, (x[:, 0] - x[:, 1] > 0).long()


def loader(seed=0):
    x, y = data(seed)
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1))


def closure_of(model, optimizer, x, y, calls=None):
    create_graph = step_protocol(optimizer).create_graph

    def closure():
        if calls is not None:
            calls.append(1)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward(create_graph=create_graph)
        return loss
    return closure


# ------------------------------------------------------------------ the registry is open

def test_every_torch_optimizer_is_named():
    named = {spec.cls for spec in OPTIMIZERS.values()}
    torch_methods = {getattr(torch.optim, n) for n in torch.optim.__all__
                     if inspect.isclass(getattr(torch.optim, n)) and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
                     and getattr(torch.optim, n) is not torch.optim.Optimizer}
    assert torch_methods and torch_methods <= named, torch_methods - named
    for name in ("nadam", "radam", "adamax", "rprop", "asgd", "adafactor"):
        assert isinstance(make_optimizer(name, net().parameters()), OPTIMIZERS[name].cls)


def test_aliases_build_the_entry_they_name():
    for alias, name in ALIASES.items():
        a, b = make_optimizer(alias, net().parameters()), make_optimizer(name, net().parameters())
        assert type(a) is type(b) and a.defaults == b.defaults
    assert isinstance(make_optimizer("sgld", net().parameters()), Langevin)
    assert isinstance(make_optimizer("newton-cg", net().parameters()), NewtonCG)


def test_any_optimizer_class_is_taken_and_checked():
    opt = make_optimizer(torch.optim.NAdam, net().parameters(), lr=0.01)
    assert isinstance(opt, torch.optim.NAdam) and opt.defaults["lr"] == 0.01
    with pytest.raises(ValueError, match=r"make_optimizer\(NAdam\): parameter 'betas' must be a pair"):
        make_optimizer(torch.optim.NAdam, net().parameters(), betas=(0.9, 1.5))
    with pytest.raises(TypeError, match=r"make_optimizer\(NAdam\): unknown hyper-parameters \['nope'\]"):
        make_optimizer(torch.optim.NAdam, net().parameters(), nope=1)
    # a third-party class checks its own ranges; its refusal names the entry
    with pytest.raises(ValueError, match=r"make_optimizer\(AdaBelief\): AdaBelief refused its arguments"):
        make_optimizer(po.AdaBelief, net().parameters(), lr=-1.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(torch.optim.Optimizer, net().parameters())


def test_pytorch_optimizer_names_are_reached_when_installed():
    assert isinstance(make_optimizer("adabelief", net().parameters()), po.AdaBelief)
    assert isinstance(make_optimizer("adahessian", net().parameters()), po.AdaHessian)
    # the suite's own entries come first where both have the name
    assert type(make_optimizer("adam", net().parameters())) is torch.optim.Adam
    assert type(make_optimizer("sam", net().parameters())) is SAM


def test_register_optimizer_names_a_class_for_the_whole_suite(monkeypatch):
    monkeypatch.setattr("neuroai.optim.registry.OPTIMIZERS", dict(OPTIMIZERS))
    from neuroai.optim import registry
    spec = register_optimizer("yogi", po.Yogi, summary="Yogi (Zaheer et al. 2018)", lr=0.02)
    assert registry.OPTIMIZERS["yogi"] is spec and spec.summary.startswith("Yogi")
    opt = registry.make_optimizer("yogi", net().parameters())
    assert isinstance(opt, po.Yogi) and opt.defaults["lr"] == 0.02
    assert registry.make_optimizer("yogi", net().parameters(), lr=0.5).defaults["lr"] == 0.5
    with pytest.raises(ValueError, match="parameter 'name' must be new, got 'yogi'"):
        register_optimizer("yogi", po.Yogi)
    with pytest.raises(ValueError, match="parameter 'name' must be new, got 'sgld', which already names Langevin"):
        register_optimizer("sgld", po.Yogi)
    with pytest.raises(TypeError, match="parameter 'cls' must be a torch.optim.Optimizer subclass"):
        register_optimizer("mine", torch.nn.Linear)
    with pytest.raises(TypeError, match=r"register_optimizer: unknown hyper-parameters \['momentum'\]"):
        register_optimizer("mine", torch.optim.Adam, momentum=0.9)
    assert "mine" not in registry.OPTIMIZERS


@pytest.mark.parametrize("name, hyper, text", [
    ("asgd", dict(lambd=-1.0), "parameter 'lambd' must be >= 0"),
    ("rprop", dict(etas=(1.5, 1.2)), "parameter 'etas' must be a pair .decrease, increase."),
    ("rprop", dict(step_sizes=(1.0, 0.1)), "parameter 'step_sizes' must be a pair .smallest, largest."),
    ("adafactor", dict(eps=(None, -1.0)), r"parameter 'eps' must be a pair \(eps1 or None, eps2\)"),
    ("adafactor", dict(beta2_decay=0.5), "parameter 'beta2_decay' must be <= 0"),
    ("nadam", dict(momentum_decay=-1.0), "parameter 'momentum_decay' must be >= 0"),
    ("muon", dict(), r"parameter 'params' must hold 2-D weight matrices only .* got one of shape \(8,\)"),
])
def test_torch_methods_options_are_checked_by_their_own_meaning(name, hyper, text):
    with pytest.raises(ValueError, match=text):
        make_optimizer(name, net().parameters(), **hyper)


def test_asgd_alpha_is_a_decay_power_not_a_fraction():
    assert make_optimizer("asgd", net().parameters(), alpha=2.0).defaults["alpha"] == 2.0   # RMSprop's is in [0, 1)
    with pytest.raises(ValueError, match=r"'alpha' must be in \[0, 1\)"):
        make_optimizer("rmsprop", net().parameters(), alpha=2.0)


def test_matrix_and_sparse_methods_train_what_they_take():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    target = torch.randn(4, 3)
    opt = make_optimizer("muon", [w], lr=0.05)
    start = float(((w.detach() - target) ** 2).sum())
    for _ in range(20):
        take_step(opt, lambda: (opt.zero_grad(), ((w - target) ** 2).sum().backward()))
    assert float(((w.detach() - target) ** 2).sum()) < start
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = make_optimizer("sparse_adam", emb.parameters(), lr=0.1)
    before = emb.weight.detach().clone()
    opt.zero_grad()
    emb(torch.tensor([1, 2])).sum().backward()
    opt.step()
    changed = (emb.weight.detach() != before).any(1)
    assert changed.tolist() == [i in (1, 2) for i in range(10)]   # only the rows looked up moved


def test_nadam_resumes_bit_for_bit_in_float64():
    x, y = data()
    model, ref = net(), net()
    opt, ref_opt = make_optimizer("nadam", model.parameters()), make_optimizer("nadam", ref.parameters())
    for _ in range(3):
        take_step(ref_opt, closure_of(ref, ref_opt, x, y))
    saved = copy.deepcopy(ref_opt.state_dict())
    model.load_state_dict(ref.state_dict())
    opt.load_state_dict(saved)
    for _ in range(3):
        take_step(ref_opt, closure_of(ref, ref_opt, x, y))
        take_step(opt, closure_of(model, opt, x, y))
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)


def test_lbfgs_tolerances_are_exposed_and_lowering_them_goes_further():
    defaults = make_optimizer("lbfgs", net().parameters()).defaults
    assert (defaults["tolerance_grad"], defaults["tolerance_change"]) == (1e-7, 1e-9)
    rosenbrock = benchmark_function("rosenbrock")

    def final_value(**tolerances):
        x = torch.tensor(rosenbrock.start, dtype=torch.float64, requires_grad=True)
        opt = make_optimizer("lbfgs", [x], max_iter=1000, **tolerances)

        def closure():
            opt.zero_grad()
            value = rosenbrock.fn(x)
            value.backward()
            return value
        for _ in range(3):
            opt.step(closure)
        return float(rosenbrock.fn(x.detach()))
    loose, tight = final_value(), final_value(tolerance_grad=1e-12, tolerance_change=1e-15)
    assert loose > 1e-12 and tight < 1e-14, (loose, tight)


# ------------------------------------------------------------------ the step protocol

def test_step_protocol_reads_attributes_then_the_known_table():
    params = list(net().parameters())
    assert step_protocol(torch.optim.Adam(params)) == StepProtocol()
    assert step_protocol(torch.optim.LBFGS(params)) == StepProtocol(requires_closure=True)
    assert step_protocol(po.SAM(params, torch.optim.SGD, lr=0.1)) == StepProtocol(True, True, False)
    assert step_protocol(po.AdaHessian(params)) == StepProtocol(create_graph=True)
    assert step_protocol(po.SophiaH(params)) == StepProtocol(create_graph=True)
    assert step_protocol(make_optimizer("newton", params)) == StepProtocol(requires_closure=True, create_graph=True)
    assert OPTIMIZERS["sam"].protocol == StepProtocol(requires_closure=True)
    mine = po.Yogi(params)
    mine.requires_closure = True          # a third-party optimizer of another kind states its needs itself
    assert step_protocol(mine).requires_closure


def test_without_the_protocol_pytorch_optimizer_methods_fail():
    """The failures the protocol fixes: SAM without a closure, AdaHessian without a graph."""
    x, y = data()
    model = net()
    sam = po.SAM(model.parameters(), torch.optim.SGD, lr=0.1)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    with pytest.raises(NoClosureError):
        sam.step()
    ada = po.AdaHessian(model.parameters())
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        ada.step()


@pytest.mark.parametrize("build, evaluations", [
    (lambda p: po.SAM(p, torch.optim.SGD, lr=0.2, momentum=0.9), 2),
    (lambda p: po.AdaHessian(p, lr=0.2), 1),
    (lambda p: po.SophiaH(p, lr=0.3, update_period=1), 1),
    (lambda p: make_optimizer("asam", p, lr=0.2), 2),
])
def test_trainer_drives_closure_and_second_order_methods(build, evaluations):
    model = net()
    optimizer = build(model.parameters())
    calls = []

    class Count(torch.nn.Module):
        def forward(self, out, target):
            calls.append(1)
            return torch.nn.functional.cross_entropy(out, target)
    trainer = Trainer(model, Count(), optimizer, progress=False, seed=0)
    history = trainer.fit(loader(), epochs=4)
    assert history[-1]["loss"] < 0.95 * history[0]["loss"], history
    assert len(calls) == evaluations * trainer.global_step
    assert all(p.grad is None or p.grad.grad_fn is None for p in model.parameters())   # no graph left behind
    if isinstance(optimizer, (po.AdaHessian, po.SophiaH)):   # the Hessian estimate was really formed
        key = "exp_hessian_diag_sq" if isinstance(optimizer, po.AdaHessian) else "hessian_moment"
        assert any(float(optimizer.state[p][key].abs().sum()) > 0 for p in model.parameters())


# ------------------------------------------------------------------ SAM and ASAM

def test_sam_follows_pytorch_optimizers_sam():
    x, y = data()
    ours, theirs = net(), net()
    a = make_optimizer("sam", ours.parameters(), base_optimizer="sgd", lr=0.1, momentum=0.9, rho=0.05)
    b = po.SAM(theirs.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9, foreach=False)
    for _ in range(10):
        take_step(a, closure_of(ours, a, x, y))
        take_step(b, closure_of(theirs, b, x, y))
    for p, q in zip(ours.parameters(), theirs.parameters()):   # (theirs adds 1e-12 to the gradient norm)
        torch.testing.assert_close(p, q, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("adaptive", [False, True])
def test_one_sam_step_is_the_formula(adaptive):
    """w <- w - lr grad L(w + e), e = rho g / |g| (SAM) or rho T^2 g / |T g|, T = |w| + eta (ASAM)."""
    x, y = data()
    model, ref = net(), net()
    rho, eta, lr = 0.3, 0.01, 0.1
    name = "asam" if adaptive else "sam"
    hyper = dict(eta=eta) if adaptive else {}
    opt = make_optimizer(name, model.parameters(), base_optimizer="sgd", lr=lr, rho=rho, **hyper)
    loss = take_step(opt, closure_of(model, opt, x, y))

    w = [p.detach().clone() for p in ref.parameters()]
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(ref(x), y), list(ref.parameters()))
    t = [wi.abs() + eta if adaptive else torch.ones_like(wi) for wi in w]
    norm = torch.sqrt(sum(((ti * gi) ** 2).sum() for ti, gi in zip(t, g)))
    with torch.no_grad():
        for p, ti, gi in zip(ref.parameters(), t, g):
            p.add_(rho * ti ** 2 * gi / norm)
    g_sam = torch.autograd.grad(torch.nn.functional.cross_entropy(ref(x), y), list(ref.parameters()))
    for p, wi, gi in zip(model.parameters(), w, g_sam):
        torch.testing.assert_close(p.detach(), wi - lr * gi, rtol=1e-12, atol=1e-14)
    assert float(loss.detach()) == pytest.approx(float(torch.nn.functional.cross_entropy(net()(x), y).detach()), rel=1e-12)


def test_sam_at_a_stationary_point_takes_the_base_step():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = make_optimizer("sam", [w], lr=0.1)
    take_step(opt, lambda: (opt.zero_grad(), (w ** 2).sum().backward(), (w ** 2).sum())[-1])
    assert torch.equal(w.detach(), torch.zeros(3, dtype=torch.float64))


def test_sam_resumes_bit_for_bit_and_schedules_reach_its_base():
    x, y = data()
    model, ref = net(), net()
    ref_opt = make_optimizer("sam", ref.parameters(), lr=0.1)
    for _ in range(3):
        take_step(ref_opt, closure_of(ref, ref_opt, x, y))
    saved_model, saved_opt = copy.deepcopy(ref.state_dict()), copy.deepcopy(ref_opt.state_dict())
    for _ in range(3):
        take_step(ref_opt, closure_of(ref, ref_opt, x, y))
    model.load_state_dict(saved_model)
    opt = make_optimizer("sam", model.parameters(), lr=0.1)
    opt.load_state_dict(saved_opt)
    assert opt.base_optimizer.param_groups is opt.param_groups and opt.base_optimizer.state is opt.state
    for _ in range(3):
        take_step(opt, closure_of(model, opt, x, y))
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    take_step(opt, closure_of(model, opt, x, y))
    scheduler.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == 0.05


@pytest.mark.parametrize("hyper, error, text", [
    (dict(rho=0.0), ValueError, "SAM: parameter 'rho' must be"),
    (dict(eta=-1.0), ValueError, "SAM: parameter 'eta' must be"),
    (dict(base_optimizer="lbfgs"), ValueError, "parameter 'base_optimizer' must be a first-order method"),
    (dict(base_optimizer="newton"), ValueError, "parameter 'base_optimizer' must be a first-order method"),
    (dict(base_optimizer=3), TypeError, "parameter 'base_optimizer' must be a torch.optim.Optimizer class"),
    (dict(base_optimizer="adam", momentum=0.9), TypeError, r"make_optimizer\('adam'\): unknown hyper-parameters"),
])
def test_sam_refuses_bad_arguments(hyper, error, text):
    with pytest.raises(error, match=text):
        make_optimizer("sam", net().parameters(), **hyper)


def test_sam_needs_its_closure():
    opt = make_optimizer("sam", net().parameters())
    with pytest.raises(RuntimeError, match="SAM.step needs a closure"):
        opt.step()
