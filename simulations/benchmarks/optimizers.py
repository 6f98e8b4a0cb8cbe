"""What does neuroai's optimizer suite cost, and how do its second-order methods compare with scipy?

Two measurements, each printed as a Markdown table:

1. **Per-step time on a network.** A tanh MLP ``64 -> 16 -> 10`` (1,210
   parameters) on one fixed batch of 256 digits images (cross-entropy,
   float64, one thread). Each optimizer of the suite takes ``--steps``
   steps; timed is the whole step (forward, backward, update, and the
   extra loss evaluations of line searches, SVRG's second gradient and
   Newton's Hessian), median seconds per step over ``--repeats`` runs.
   The ratio is against ``torch.optim.SGD`` on the same model and batch in
   the same process (1.0: as cheap as SGD). Loss evaluations per step and
   the loss after the steps are shown beside it, since a costlier step may
   buy more progress.
2. **Rosenbrock in 2, 10 and 100 dimensions vs scipy.optimize.** From the
   standard start ``(-1.2, 1, -1.2, 1, ...)``, neuroai's ``BFGS``,
   ``Newton`` and ``NewtonCG`` (float64 torch, autograd gradients) against
   ``scipy.optimize.minimize`` with ``BFGS``, ``trust-exact`` (exact
   Hessian) and ``Newton-CG`` (Hessian-vector products), given scipy's
   analytic ``rosen_der``/``rosen_hess``/``rosen_hess_prod``. Both run
   until the gradient's largest entry is below ``1e-8`` (scipy: ``gtol``;
   Newton-CG has no gradient test, so ``xtol=1e-12``) or 5,000 iterations.
   Reported: iterations, loss evaluations, final error ``max|x - 1|``,
   wall time and the time ratio neuroai/scipy (> 1: neuroai slower; on a
   2-D problem both are all overhead, scipy's in numpy, ours in torch's
   autograd).

Usage: ``python simulations/benchmarks/optimizers.py [--quick]``
(``--quick``: fewer steps and repeats, well under a minute).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from scipy import optimize as sp
from torch import nn

from neuroai.data import load_digits
from neuroai.landscape import benchmark_function
from neuroai.optim import OPTIMIZERS, make_optimizer

NETWORK_OPTIMIZERS = ("sgd", "momentum", "adam", "langevin", "svrg", "armijo", "goldstein", "bfgs",
                      "newton_cg", "newton", "lbfgs")
SCIPY_PAIRS = (("bfgs", "BFGS"), ("newton", "trust-exact"), ("newton_cg", "Newton-CG"))
GTOL = 1e-8
MAX_ITER = 5000


def network_problem(seed: int = 0):
    images, labels = load_digits()
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(labels), generator=g)[:256]
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float64)[idx]
    y = torch.tensor(labels, dtype=torch.long)[idx]
    return x, y


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)).double()


def network_run(name: str, x, y, steps: int) -> tuple[float, float, float]:
    """Seconds per step, loss evaluations per step and the final loss."""
    model = mlp(0)
    evaluations = 0
    spec = OPTIMIZERS[name]

    def closure():
        nonlocal evaluations
        evaluations += 1
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward(create_graph=spec.create_graph)
        return loss

    hyper = dict(full_closure=closure, snapshot_every=10) if name == "svrg" else {}
    opt = make_optimizer(name, model.parameters(), **hyper)
    start = time.perf_counter()
    for _ in range(steps):
        if spec.requires_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
    seconds = (time.perf_counter() - start) / steps
    with torch.no_grad():
        final = float(nn.functional.cross_entropy(model(x), y))
    return seconds, evaluations / steps, final


def network_table(steps: int, repeats: int) -> None:
    x, y = network_problem()
    print(f"## Per-step time, MLP 64-16-10 (1,210 parameters), batch 256, float64, {steps} steps, "
          f"median of {repeats}\n")
    print("| optimizer | ms per step | ratio to SGD | loss evaluations per step | loss after |")
    print("|---|---|---|---|---|")
    reference = None
    for name in NETWORK_OPTIMIZERS:
        network_run(name, x, y, 2)  # warm-up
        runs = [network_run(name, x, y, steps) for _ in range(repeats)]
        seconds = statistics.median(r[0] for r in runs)
        reference = reference or seconds
        print(f"| {name} | {1e3 * seconds:.2f} | {seconds / reference:.2f} | {runs[0][1]:.1f} | {runs[0][2]:.4f} |",
              flush=True)
    print()


def ours_on_rosenbrock(name: str, dim: int) -> dict:
    function = benchmark_function("rosenbrock", dim=dim)
    x = nn.Parameter(torch.tensor(function.start, dtype=torch.float64))
    opt = make_optimizer(name, [x])
    create_graph = OPTIMIZERS[name].create_graph
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        loss = function(x)
        loss.backward(create_graph=create_graph)
        return loss

    start = time.perf_counter()
    iterations = 0
    while iterations < MAX_ITER:
        loss = opt.step(closure)
        iterations += 1
        x.grad = None
        gradient = torch.autograd.grad(function(x), x)[0]
        if float(gradient.abs().max()) <= GTOL or not torch.isfinite(loss):
            break
    seconds = time.perf_counter() - start
    return dict(iterations=iterations, evaluations=evaluations, error=float((x.detach() - 1).abs().max()),
                seconds=seconds)


def scipy_on_rosenbrock(method: str, dim: int) -> dict:
    start_point = np.array(benchmark_function("rosenbrock", dim=dim).start)
    options = {"xtol": 1e-12} if method == "Newton-CG" else {"gtol": GTOL}
    extra = {"BFGS": {}, "trust-exact": {"hess": sp.rosen_hess}, "Newton-CG": {"hessp": sp.rosen_hess_prod}}[method]
    start = time.perf_counter()
    result = sp.minimize(sp.rosen, start_point, jac=sp.rosen_der, method=method,
                         options={**options, "maxiter": MAX_ITER}, **extra)
    seconds = time.perf_counter() - start
    return dict(iterations=int(result.nit), evaluations=int(result.nfev), error=float(np.abs(result.x - 1).max()),
                seconds=seconds)


def rosenbrock_table(dims: tuple[int, ...]) -> None:
    print(f"## Rosenbrock from (-1.2, 1, ...): neuroai vs scipy.optimize, until max|grad| <= {GTOL:g}\n")
    print("| dim | neuroai | scipy | iterations (neuroai / scipy) | evaluations (neuroai / scipy) | "
          "error (neuroai / scipy) | time s (neuroai / scipy) | time ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for dim in dims:
        for ours, theirs in SCIPY_PAIRS:
            a, b = ours_on_rosenbrock(ours, dim), scipy_on_rosenbrock(theirs, dim)
            print(f"| {dim} | {ours} | {theirs} | {a['iterations']} / {b['iterations']} | "
                  f"{a['evaluations']} / {b['evaluations']} | {a['error']:.1e} / {b['error']:.1e} | "
                  f"{a['seconds']:.3f} / {b['seconds']:.3f} | {a['seconds'] / b['seconds']:.1f} |", flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s)\n")
    network_table(steps=10 if args.quick else 50, repeats=1 if args.quick else 3)
    rosenbrock_table((2, 10) if args.quick else (2, 10, 100))


if __name__ == "__main__":
    main()
