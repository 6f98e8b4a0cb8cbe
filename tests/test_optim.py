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
