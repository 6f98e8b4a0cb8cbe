"""When do Hessian-vector-product estimates beat forming the exact Hessian?

For tanh MLPs ``10 -> h -> h -> 1`` of growing width (``n = h^2 + 13 h + 1``
parameters, from ~100 to ~20,000), on one batch of 256 regression samples
(float32, CPU unless ``--device``), the script times

* **top eigenvalue**: ``neuroai.landscape.top_eigenvalues`` (Lanczos with full
  reorthogonalization, ``k=1``, relative Ritz residual ``1e-4``) against
  forming the exact Hessian (``HessianOperator.dense``: ``n`` vectorized
  Hessian-vector products) plus ``torch.linalg.eigvalsh``;
* **trace**: ``neuroai.landscape.hessian_trace`` (Hutchinson, 100 Rademacher
  probes, vectorized 16 at a time) against forming the exact Hessian and
  summing its diagonal.

The exact Hessian is skipped above ``--max-exact`` parameters (default 5,000:
``n^2`` floats and ``O(n^3)`` eigendecomposition), shown as "n/a". Each
estimate's time is the median of ``--repeats`` runs (exact: ``repeats - 2``,
at least 1) after one warm-up. On a shared or small machine, ``--threads 1``
gives steadier times (tiny tensors gain nothing from more threads). The table gives
the ratio exact/estimate (> 1: the estimate is faster) and the estimates'
relative errors, and the script reports the crossover: the smallest size from
which the estimate is faster at every larger measured size.

Products are taken in the operator's ``--mode`` (default its default,
reverse-over-reverse; compare ``--mode forward-over-reverse``).

Usage: ``python simulations/benchmarks/hessian.py [--quick] [--threads N] [--mode MODE]``
(``--quick``: sizes up to ~1,300 parameters plus one ~5,000 estimate-only, well under a minute).
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from neuroai.landscape import HessianOperator, hessian_trace, top_eigenvalues

FULL_WIDTHS = (5, 10, 20, 30, 45, 62, 95, 135)   # n = 91 ... 19,981
QUICK_WIDTHS = (5, 10, 20, 30, 65)
BATCH, IN = 256, 10
PROBES = 100


def mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target) ** 2).mean()


def problem(width: int, device: str, mode: str, seed: int = 0) -> HessianOperator:
    """The Hessian operator of an MLP of the given hidden width on random regression data."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(IN, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                          nn.Linear(width, 1)).to(device)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(BATCH, IN, generator=g)
    y = torch.sin(x @ torch.randn(IN, 1, generator=g))
    return HessianOperator(model, mse, (x.to(device), y.to(device)), mode=mode)


def timed(fn: Callable[[], object], repeats: int, device: str) -> tuple[float, object]:
    """Median wall time (s) of ``fn`` over ``repeats`` runs after a warm-up, and its last result."""
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    result = fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def crossover(sizes: list[int], ratios: list[float | None]) -> str:
    """Smallest measured size from which every measured ratio is > 1."""
    known = [(n, r) for n, r in zip(sizes, ratios) if r is not None]
    if not known:
        return "n/a (no exact timings)"
    first = None
    for n, r in reversed(known):
        if r > 1:
            first = n
        else:
            break
    if first is None:
        return f"none up to n = {known[-1][0]:,} (exact still faster)"
    if first == known[0][0]:
        return f"at or below n = {first:,} (estimate faster at every measured size)"
    prev = max(n for n, _ in known if n < first)
    return f"between n = {prev:,} and n = {first:,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (well under a minute)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-exact", type=int, default=5000, help="largest n for the exact Hessian")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--mode", default="reverse-over-reverse", choices=HessianOperator.MODES,
                    help="how HessianOperator takes its products")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = QUICK_WIDTHS if args.quick else FULL_WIDTHS
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"# Hessian estimates vs exact Hessian ({'quick' if args.quick else 'full'})\n")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, "
          f"{torch.get_num_threads()} threads, float32, batch {BATCH}, mode {args.mode}, Hutchinson {PROBES} probes, "
          f"median of {repeats}\n")
    header = ("| params n | exact H (s) | eigvalsh (s) | top-1 Lanczos (s) | exact/top | top rel. err "
              "| Hutchinson (s) | exact/trace | trace rel. err (stderr) |")
    print(header)
    print("|" + "---:|" * (header.count("|") - 1))
    sizes, top_ratio, tr_ratio = [], [], []
    for h in widths:
        H = problem(h, args.device, args.mode)
        n = H.num_params
        t_top, top = timed(lambda: top_eigenvalues(H, k=1, tol=1e-4, seed=0), repeats, args.device)
        t_tr, tr = timed(lambda: hessian_trace(H, num_probes=PROBES, seed=0), repeats, args.device)
        lam = float(top.eigenvalues[0])
        t_form = t_eig = None
        err_top = err_tr = None
        if n <= args.max_exact:
            t_form, dense = timed(lambda: H.dense(chunk_size=256), max(1, repeats - 2), args.device)
            t_eig, ev = timed(lambda: torch.linalg.eigvalsh(dense), max(1, repeats - 2), args.device)
            exact_top, exact_tr = float(ev[-1]), float(dense.diagonal().sum())
            err_top = abs(lam - exact_top) / abs(exact_top)
            err_tr = abs(tr.trace - exact_tr) / abs(exact_tr)
            del dense
        r_top = (t_form + t_eig) / t_top if t_form is not None else None
        r_tr = t_form / t_tr if t_form is not None else None
        sizes.append(n)
        top_ratio.append(r_top)
        tr_ratio.append(r_tr)
        err_tr_s = "n/a" if err_tr is None else f"{err_tr:.1%} ({tr.stderr / abs(tr.trace):.1%})"
        print(f"| {n:,} | {fmt(t_form)} | {fmt(t_eig)} | {t_top:.3f} | {fmt(r_top, '.1f')} | "
              f"{fmt(err_top, '.1e')} | {t_tr:.3f} | {fmt(r_tr, '.1f')} | {err_tr_s} |", flush=True)
    print()
    print(f"crossover, top eigenvalue (Lanczos faster than exact H + eigvalsh): {crossover(sizes, top_ratio)}")
    print(f"crossover, trace (Hutchinson, {PROBES} probes, faster than exact H): {crossover(sizes, tr_ratio)}")


if __name__ == "__main__":
    main()
