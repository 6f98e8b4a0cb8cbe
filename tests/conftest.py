"""Shared fixtures: a seeded random network generator (parity tests), scratch folders, the fuzz summary."""
import os

import numpy as np
import pytest

import neuroai as na


def random_network(seed: int, duration_hint: float = 1.0) -> na.Network:
    """A seeded random circuit: 3 populations (value and subtract resets, with
    and without refractoriness), Poisson and regular inputs, recurrent,
    inhibitory, delayed, delta and exponential-current projections."""
    rng = np.random.default_rng(seed)
    net = na.Network(dt=1e-4)
    net.add_input("poisson", 120, na.PoissonRate(max_rate=30.0))
    net.add_input("regular", 40, na.RegularRate(max_rate=25.0))
    net.add_population("a", int(rng.integers(150, 250)),
                       na.LIF(tau_m=rng.uniform(15e-3, 25e-3), t_ref=2e-3, reset="value"),
                       v_init=na.Uniform(0, 1, seed=seed + 1))
    net.add_population("b", int(rng.integers(60, 120)),
                       na.LIF(tau_m=rng.uniform(8e-3, 12e-3), t_ref=0.0, reset="subtract"),
                       v_init=na.Uniform(0, 1, seed=seed + 2))
    net.add_population("c", int(rng.integers(40, 80)),
                       na.LIF(tau_m=rng.uniform(10e-3, 30e-3), v_rest=0.1, v_reset=-0.1, i_bias=0.5,
                              t_ref=1e-3, reset="subtract"),
                       v_init=na.Uniform(-0.1, 0.9, seed=seed + 3))
    s = seed * 10
    net.connect("poisson", "a", na.FixedProbability(0.15, seed=s + 1), weight=na.Uniform(0.05, 0.35, seed=s + 2))
    net.connect("regular", "b", na.FixedProbability(0.3, seed=s + 3), weight=0.2,
                synapse=na.ExponentialCurrent(4e-3, "I_in"))
    net.connect("a", "a", na.FixedProbability(0.05, allow_self=False, seed=s + 4),
                weight=na.Uniform(0, 0.1, seed=s + 5), sign="excitatory", delay=rng.uniform(0.5e-3, 3e-3), round_delay=True)
    net.connect("a", "b", na.FixedProbability(0.1, seed=s + 6), weight=0.25,
                synapse=na.ExponentialCurrent(5e-3, "I_exc"), delay=1e-3)
    net.connect("b", "a", na.FixedProbability(0.2, seed=s + 7), weight=na.Uniform(0.1, 0.4, seed=s + 8),
                sign="inhibitory", synapse=na.ExponentialCurrent(3e-3, "I_inh"))
    net.connect("b", "b", na.FixedProbability(0.1, allow_self=False, seed=s + 9), weight=0.05,
                sign="inhibitory", delay=0.5e-3)
    net.connect("a", "c", na.FixedProbability(0.1, seed=s + 10), weight=na.Normal(0.05, 0.05, seed=s + 11))
    net.connect("c", "c", na.OneToOne(), weight=0.02, synapse=na.ExponentialCurrent(2e-3, "I_self"), delay=2e-3)
    for name in ("a", "b", "c", "poisson"):
        net.monitor(name)
    net.monitor("a", "v", every=7)
    net.monitor("b", "I_exc", every=5)
    net.monitor("b_to_a", "w", every=1000)
    return net


@pytest.fixture
def small_net():
    """Input -> recurrent LIF population, small enough for quick checks."""
    net = na.Network(dt=1e-4)
    net.add_input("inp", 20, na.PoissonRate(max_rate=80.0))
    net.add_population("out", 30, na.LIF(tau_m=10e-3, t_ref=1e-3), v_init=na.Uniform(0, 1, seed=0))
    net.connect("inp", "out", na.FixedProbability(0.5, seed=1), weight=na.Uniform(0.1, 0.5, seed=2))
    net.connect("out", "out", na.FixedProbability(0.1, allow_self=False, seed=3), weight=0.1, sign="inhibitory",
                delay=1e-3)
    net.monitor("out")
    net.monitor("out", "v", every=4)
    return net


@pytest.fixture(scope="module", autouse=True)
def fuzz_machine(request, tmp_path_factory):
    """The machine as the fuzz tests (tests/test_fuzz_*.py) see it: the working folder is a temporary one
    (relative paths among the generated values, a ``Checkpoint("cuda")`` or ``--out b2``, write there, not
    into the checkout), and 256 MiB are free, so a generated size that would fit this machine's gigabytes is
    refused by the memory checks at once instead of being allocated (and the checks themselves are tried)."""
    if not request.module.__name__.rsplit(".", 1)[-1].startswith("test_fuzz_"):
        yield
        return
    from neuroai import validation

    previous, free = os.getcwd(), validation.available_memory
    os.chdir(tmp_path_factory.mktemp("cwd"))
    validation.available_memory = lambda: 2 ** 28
    yield
    validation.available_memory = free
    os.chdir(previous)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny matrices: one torch thread is fastest (several fight over busy cores).
    Modules that want it throughout set ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def grammar_corpus(tmp_path_factory):
    """A PTB-format folder of sentences from a tiny grammar (3 x 3 x 2 = 18 sentences of 5 words):
    3,000 training, 300 validation and 300 test lines, seeded."""
    import random

    from neuroai.data.text import write_corpus

    def lines(n, seed):
        rng = random.Random(seed)
        subjects, verbs, objects = ["the cat", "a dog", "the bird"], ["sees", "likes", "finds"], ["the fish", "a tree"]
        return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}" for _ in range(n)]

    return write_corpus({"train": lines(3000, 0), "valid": lines(300, 1), "test": lines(300, 2)},
                        tmp_path_factory.mktemp("grammar"))


def pytest_terminal_summary(terminalreporter):
    """How many generated inputs the fuzz tests (tests/test_fuzz_*.py) tried, per entry point."""
    import sys
    fuzzing = sys.modules.get("fuzzing") or sys.modules.get("tests.fuzzing")
    if fuzzing is None or not fuzzing.TRIED:
        return
    terminalreporter.section("fuzzed inputs")
    for entry, count in sorted(fuzzing.TRIED.items()):
        terminalreporter.write_line(f"{count:6d}  {entry}")
    terminalreporter.write_line(f"{sum(fuzzing.TRIED.values()):6d}  in all, over {len(fuzzing.TRIED)} entry points")
