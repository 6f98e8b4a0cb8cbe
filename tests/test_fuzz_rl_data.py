"""Fuzz tests of reinforcement learning, data, statistics, decoding, conversion, experiments and the CLI.

Every entry point is called with generated arguments, valid ones mixed with careless and adversarial ones
(:mod:`fuzzing`): it must accept them and give finite numbers, or refuse them with a neuroai error naming
its owner, the argument and what was expected. Budgets stay tiny (a few dozen CartPole steps, a few
neurons), so the whole module runs in seconds.
"""
from __future__ import annotations

import gzip
import math
import os
from numbers import Integral
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuzzing import ANYTHING, NUMBERS, assert_finite, attempt, fuzz_settings

pytestmark = pytest.mark.usefixtures("one_thread")

NAN, INF = math.nan, math.inf


# --- strategies ------------------------------------------------------------------------------------------------

#: ANYTHING and NUMBERS as one branch each: hypothesis flattens nested one_of, so st.one_of(valid, ANYTHING)
#: would draw ``valid`` as rarely as each of ANYTHING's many branches.
ODD = st.just(None).flatmap(lambda _: ANYTHING)
ODD_NUMBERS = st.just(None).flatmap(lambda _: NUMBERS)


def either(valid, bad, bad_in_10: int = 3) -> st.SearchStrategy:
    """``bad`` about ``bad_in_10`` times in 10, else ``valid``, however many branches each has (hypothesis
    draws small integers more often, so ``valid`` is the low end, and what failures shrink to)."""
    return st.integers(0, 9).flatmap(lambda k: bad if k >= 10 - bad_in_10 else valid)


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def small_int(lo: int, hi: int) -> st.SearchStrategy:
    """A valid integer in [lo, hi], or anything else but a larger integer (which would be valid, and only
    slow)."""
    return either(st.integers(lo, hi), ANYTHING.filter(lambda v: not (_is_int(v) and v > hi)))


def small_real(lo: float, hi: float) -> st.SearchStrategy:
    """A valid real in [lo, hi] or any value (huge, NaN, of the wrong type...)."""
    return either(st.floats(lo, hi), ANYTHING)


def bounded_real(lo: float, hi: float, slow_above: float) -> st.SearchStrategy:
    """A valid real in [lo, hi] or anything but a real in (hi, slow_above] (valid, and only slow)."""
    return either(st.floats(lo, hi), ANYTHING.filter(lambda v: not (_is_real(v) and hi < float(v) <= slow_above)))


SEEDS = either(st.one_of(st.integers(0, 5), st.integers(0, 2 ** 32 - 1)), ANYTHING)
FLAGS = either(st.booleans(), ANYTHING)
QUIET = either(st.just(False), ANYTHING.filter(lambda v: v is not True))  # progress: no bars
ELEMENTS = st.one_of(st.floats(-5, 5), st.floats(-5, 5), st.floats(-5, 5), st.sampled_from([NAN, INF, -INF]))


def float_arrays(shape, elements=ELEMENTS) -> st.SearchStrategy:
    return hnp.arrays(np.float64, shape, elements=elements)


def some_arrays(max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy:
    """Float arrays of any small shape (empty ones too), NaN and inf among the values, or anything else."""
    return either(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0,
                                                           max_side=max_side), elements=ELEMENTS), ANYTHING, 5)


def corrupt(data, valid: dict, bad: dict, most: int = 2) -> dict:
    """``valid`` (name -> strategy of valid values) with at most ``most`` of them drawn from ``bad`` instead."""
    names = sorted(valid)
    chosen = data.draw(st.sets(st.sampled_from(names), max_size=most))
    return {k: data.draw(bad.get(k, ODD) if k in chosen else valid[k], label=k) for k in names}


def assert_module_finite(model: torch.nn.Module, what: str) -> None:
    for name, p in model.named_parameters():
        assert_finite(p, f"{what}.{name}")


# --- reinforcement learning ------------------------------------------------------------------------------------

ENV_IDS = st.one_of(st.sampled_from(["CartPole-v1"] * 6 + ["Acrobot-v1", "MountainCar-v0", "Pendulum-v1",
                                                            "FrozenLake-v1", "Blackjack-v1", "LunarLander-v3",
                                                            "phys2d/CartPole-v1", "NoSuchEnv-v0", ""]), ODD)
HIDDEN = st.lists(st.integers(1, 8), max_size=2).map(tuple)
HIDDEN_BAD = st.one_of(ODD, st.lists(st.one_of(st.integers(-2, 0), ODD_NUMBERS), min_size=1, max_size=2).map(tuple),
                       st.just("64"), st.just((2 ** 40,)))

DQN_FIELDS = {
    "total_timesteps": st.integers(1, 60), "learning_rate": st.one_of(st.floats(1e-5, 0.1), st.just(1e30)),
    "buffer_size": st.integers(1, 50), "gamma": st.floats(0, 1), "tau": st.floats(0, 1),
    "target_update": st.integers(1, 30), "batch_size": st.integers(1, 16), "start_epsilon": st.floats(0, 1),
    "end_epsilon": st.floats(0, 1), "exploration_fraction": st.floats(0, 1), "learning_starts": st.integers(0, 40),
    "train_frequency": st.integers(1, 8), "hidden": HIDDEN, "double": st.booleans(), "dueling": st.booleans()}
PPO_FIELDS = {
    "total_timesteps": st.integers(1, 64), "learning_rate": st.one_of(st.floats(1e-5, 0.1), st.just(1e30)),
    "anneal_lr": st.booleans(), "num_envs": st.integers(1, 3), "num_steps": st.integers(1, 12),
    "gamma": st.floats(0, 1), "gae_lambda": st.floats(0, 1), "num_minibatches": st.integers(1, 3),
    "update_epochs": st.integers(1, 2), "clip_coef": st.floats(0, 1), "ent_coef": st.floats(0, 0.1),
    "vf_coef": st.floats(0, 1), "max_grad_norm": st.floats(0, 1)}
A2C_FIELDS = {k: PPO_FIELDS[k] for k in ("total_timesteps", "learning_rate", "num_envs", "num_steps", "gamma",
                                          "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm")}
REINFORCE_FIELDS = {"total_timesteps": st.integers(1, 30), "learning_rate": st.floats(1e-5, 0.1),
                    "gamma": st.floats(0, 1), "episodes_per_update": st.integers(1, 2), "vf_coef": st.floats(0, 1)}
SLOW_INTS = {name: small_int(1, 3).filter(lambda v: not _is_int(v) or v < 1)  # valid large ones are only slow
             for name in ("total_timesteps", "num_envs", "num_steps", "update_epochs", "episodes_per_update")}


@fuzz_settings(60)
@given(st.data())
def test_rl_configs(data):
    from neuroai.rl import A2CConfig, DQNConfig, PPOConfig, ReinforceConfig

    kind = data.draw(st.sampled_from([DQNConfig, PPOConfig, A2CConfig, ReinforceConfig]))
    fields = {DQNConfig: DQN_FIELDS, PPOConfig: PPO_FIELDS, A2CConfig: A2C_FIELDS,
              ReinforceConfig: REINFORCE_FIELDS}[kind]
    kwargs = corrupt(data, fields, {"hidden": HIDDEN_BAD}, most=2)
    config = attempt(kind.__name__, kind, **kwargs)
    if config is not None:
        for name in fields:
            value = getattr(config, name)
            assert not isinstance(value, (str, bytes)) and value is not None, (name, value)
        if kind is DQNConfig:
            assert isinstance(config.hidden, tuple) and all(_is_int(h) and h >= 1 for h in config.hidden)


def _policies(obs_size: int) -> st.SearchStrategy:
    from neuroai.rl import LSTMActorCritic, MLPActorCritic
    return st.one_of(st.just(None), st.just(None), st.builds(lambda: MLPActorCritic(obs_size, 2, (8,))),
                     st.builds(lambda: MLPActorCritic(obs_size + 1, 2, (8,))),
                     st.builds(lambda: LSTMActorCritic(obs_size, 2, hidden=4)),
                     st.builds(lambda: MLPActorCritic(obs_size, 5, (8,))), ODD)


def _checkpoints(tmp_path: Path) -> st.SearchStrategy:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    return st.one_of(st.just(None), st.just(None), st.just(None), st.just(tmp_path / "run.pt"),
                     st.just(str(tmp_path / "sub" / "run.pt")), st.just(garbage), st.just(tmp_path),
                     st.just(blocker / "run.pt"), ODD)


def _check_result(result, what: str) -> None:
    assert_finite(result.returns(), f"{what} returns")
    assert_finite([v for _, v in result.losses], f"{what} losses")
    assert_module_finite(result.model, f"{what} model")
    assert isinstance(result.steps, int) and result.steps >= 0


@fuzz_settings(100)
@given(data=st.data())
def test_rl_training(tmp_path, data):
    from neuroai.rl import (A2CConfig, DQNConfig, PPOConfig, ReinforceConfig, train_a2c, train_dqn, train_ppo,
                            train_reinforce)

    train, config_type, fields = data.draw(st.sampled_from([
        (train_dqn, DQNConfig, DQN_FIELDS), (train_ppo, PPOConfig, PPO_FIELDS), (train_a2c, A2CConfig, A2C_FIELDS),
        (train_reinforce, ReinforceConfig, REINFORCE_FIELDS)]))
    kwargs = corrupt(data, fields, SLOW_INTS, most=1)
    try:
        config = config_type(**kwargs)   # (the config's own checks are fuzzed above)
    except (TypeError, ValueError):
        config = None
    if config is None or data.draw(st.integers(0, 9)) == 0:
        config = data.draw(st.one_of(st.just(config_type(total_timesteps=8, **(
            {"num_envs": 1, "num_steps": 4, "num_minibatches": 1} if config_type is PPOConfig else
            {"num_envs": 1, "num_steps": 4} if config_type is A2CConfig else {}))), ODD), label="config")
    options = {"env_id": ENV_IDS, "seed": SEEDS, "progress": QUIET,
               "device": either(st.sampled_from(["cpu", torch.device("cpu")]), ANYTHING)}
    if train in (train_dqn, train_ppo, train_a2c):
        options["checkpoint"] = _checkpoints(tmp_path)
    if train in (train_dqn, train_a2c):
        options["checkpoint_every"] = small_int(1, 50)
    if train in (train_ppo, train_a2c, train_reinforce):
        options["policy"] = _policies(4)
    if train in (train_ppo, train_a2c):
        options["mask_velocity"] = either(st.just(False), ANYTHING)
    options["logger"] = either(st.just(None), ANYTHING)
    valid = {"env_id": st.just("CartPole-v1"), "seed": st.integers(0, 3), "progress": st.just(False),
             "device": st.just("cpu"), "checkpoint": st.just(None), "checkpoint_every": st.integers(1, 20),
             "policy": st.just(None), "mask_velocity": st.booleans(), "logger": st.just(None)}
    chosen = corrupt(data, {k: valid[k] for k in options}, options, most=2)
    env_id = chosen.pop("env_id")
    result = attempt(train.__name__, train, env_id, config, **chosen)
    if result is not None:
        _check_result(result, train.__name__)


#: Anything but arrays and tensors, which the torch backend's Runner compares with '==' (its own bug, not fuzzed here).
NOT_ARRAYS = ANYTHING.filter(lambda v: not isinstance(v, (np.ndarray, torch.Tensor)))
RSTDP_FIELDS = {"n_cues": st.integers(1, 3), "n_actions": st.integers(2, 3), "trials": st.integers(1, 3),
                "block": st.just(1), "neurons_per_cue": st.integers(1, 3),
                "neurons_per_action": st.integers(1, 3), "cue_duration": st.floats(0.001, 0.008),
                "reward_duration": st.floats(0.001, 0.008), "reward_correct": st.floats(-2, 2),
                "reward_wrong": st.floats(-2, 2), "dt": st.sampled_from([1e-3, 5e-4]),
                "cue_rate": st.floats(1, 500), "w_init_low": st.floats(0, 0.1), "w_init_high": st.floats(0.1, 0.2),
                "eta": st.floats(0, 10), "tau_c": st.floats(0.005, 0.05), "w_max": st.floats(0.2, 1.0)}
RSTDP_BAD = {**{name: small_int(1, 3).filter(lambda v: not _is_int(v) or v < 1)
                for name in ("n_cues", "n_actions", "trials", "neurons_per_cue", "neurons_per_action")},
             **{name: bounded_real(0.001, 0.008, 2e6) for name in ("cue_duration", "reward_duration")},
             "dt": bounded_real(1e-4, 1e-3, 0.01).filter(lambda v: not (_is_real(v) and 0 < float(v) < 1e-4))}


@fuzz_settings(30)
@given(data=st.data())
def test_rstdp(data):
    from neuroai.rl import RSTDPConfig, evaluate_rstdp, train_rstdp

    config = attempt("RSTDPConfig", RSTDPConfig, **corrupt(data, RSTDP_FIELDS, RSTDP_BAD, most=2))
    if config is None:
        config = data.draw(st.one_of(st.just(RSTDPConfig(trials=1, block=1, n_cues=2, n_actions=2, neurons_per_cue=2,
                                                         neurons_per_action=2, cue_duration=0.004,
                                                         reward_duration=0.004)), ODD), label="config")
    kwargs = corrupt(data, {"backend": st.just("torch"), "seed": st.integers(0, 9), "progress": st.just(False)},
                     {"backend": st.one_of(st.sampled_from(["brian2", "nengo", "Torch"]), ODD),
                      "seed": SEEDS, "progress": QUIET}, most=1)
    options = data.draw(st.one_of(st.just({}), st.just({}), st.just({"dtype": "float32"}),
                                  st.dictionaries(st.sampled_from(["dtype", "device"]), NOT_ARRAYS, max_size=1)),
                        label="options")
    if isinstance(kwargs["backend"], str) and kwargs["backend"] == "brian2":   # (its own options)
        options = {}
    result = attempt("train_rstdp", train_rstdp, config, **kwargs, **options)
    if result is None:
        return
    assert_finite([r for _, r in result.episodes], "episodes")
    assert_finite(result.accuracy, "accuracy")
    assert_finite(result.weights, "weights")
    evaluation = corrupt(data, {"repeats": st.integers(1, 2), "backend": st.just("torch"), "seed": st.integers(0, 9)},
                         {"repeats": small_int(1, 2).filter(lambda v: not _is_int(v) or v < 1),
                          "backend": st.one_of(st.just("nengo"), ODD), "seed": SEEDS}, most=1)
    accuracy = attempt("evaluate_rstdp", evaluate_rstdp,
                       data.draw(either(st.just(result), ANYTHING), label="result"), **evaluation)
    if accuracy is not None:
        assert 0.0 <= accuracy <= 1.0


def _series(shape) -> st.SearchStrategy:
    """Time-major (T, N) rewards: a float tensor (NaN at times), or a numpy array, a list, anything."""
    return st.one_of(float_arrays(shape).map(torch.tensor), float_arrays(shape).map(lambda a: torch.tensor(a).float()),
                     float_arrays(shape), some_arrays(), st.just(torch.ones(shape, dtype=torch.long)))


@fuzz_settings(60)
@given(data=st.data())
def test_rl_returns(data):
    from neuroai.rl import discounted_returns, gae

    shape = data.draw(st.tuples(st.integers(0, 4), st.integers(1, 3)))
    finite = float_arrays(shape, st.floats(-5, 5)).map(torch.tensor)
    dones = hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])).map(torch.tensor)
    rewards = data.draw(either(finite, _series(shape), 2), label="rewards")
    done = data.draw(either(dones, st.one_of(_series(shape), _series((shape[0] + 1, shape[1]))), 2), label="dones")
    gamma = data.draw(small_real(0, 1), label="gamma")
    last = float_arrays((shape[1],), st.floats(-5, 5)).map(torch.tensor)
    if data.draw(st.booleans()):
        bootstrap = data.draw(either(st.one_of(st.none(), last), some_arrays(1), 2), label="bootstrap")
        out = attempt("discounted_returns", discounted_returns, rewards, done, gamma, bootstrap)
        if out is not None:
            assert tuple(out.shape) == shape
            assert_finite(out, "returns")
    else:
        values = data.draw(either(finite, _series(shape), 2), label="values")
        next_value = data.draw(either(last, some_arrays(1), 2), label="next_value")
        lam = data.draw(small_real(0, 1), label="lam")
        out = attempt("gae", gae, rewards, values, done, next_value, gamma, lam)
        if out is not None:
            assert tuple(out[0].shape) == shape and tuple(out[1].shape) == shape
            assert_finite(out, "gae")


@fuzz_settings(50)
@given(data=st.data())
def test_rl_replay_buffer(data):
    from neuroai.rl import ReplayBuffer

    kwargs = corrupt(data, {"capacity": st.integers(1, 8), "obs_shape": st.sampled_from([(2,), (1,), (2, 2)]),
                            "device": st.just("cpu"), "seed": st.integers(0, 9)},
                     {"capacity": st.one_of(ODD, st.just(2 ** 40)),
                      "obs_shape": st.one_of(ODD, st.just((-1,)), st.just((2 ** 40, 2 ** 20)), st.just("ab")),
                      "seed": SEEDS}, most=1)
    buffer = attempt("ReplayBuffer", ReplayBuffer, kwargs.pop("capacity"), kwargs.pop("obs_shape"), **kwargs)
    if buffer is None:
        return
    shape = buffer.obs.shape[1:]
    n = data.draw(st.integers(1, 3))
    rows = {"obs": float_arrays((n, *shape)), "actions": st.just(np.zeros(n, np.int64)),
            "rewards": float_arrays((n,)), "next_obs": float_arrays((n, *shape)),
            "dones": st.just(np.zeros(n))}
    batch = corrupt(data, rows, {k: some_arrays() for k in rows}, most=1)
    attempt("ReplayBuffer.add", buffer.add, *(batch[k] for k in ("obs", "actions", "rewards", "next_obs", "dones")))
    assert_finite(buffer.obs[:len(buffer)], "stored observations")
    if len(buffer):  # (sampling an empty buffer is a RuntimeError: a state, not an argument, is wrong)
        size = data.draw(small_int(0, 5), label="batch_size")
        sample = attempt("ReplayBuffer.sample", buffer.sample, size)
        if sample is not None:
            assert len(sample.obs) == size
            assert_finite([sample.obs, sample.rewards, sample.next_obs], "sample")


@fuzz_settings(40)
@given(data=st.data())
def test_rl_policies(data):
    from neuroai.rl import Greedy, LSTMActorCritic, MLPActorCritic, QNetwork, SpikingActorCritic

    kind = data.draw(st.sampled_from([MLPActorCritic, LSTMActorCritic, SpikingActorCritic, QNetwork]))
    fields = {"obs_size": st.integers(1, 4), "actions": st.integers(1, 3)}
    if kind in (MLPActorCritic, QNetwork):
        fields["hidden"] = HIDDEN
    else:
        fields["hidden"] = st.integers(1, 6)
    if kind is LSTMActorCritic:
        fields["shared"] = st.booleans()
    if kind is QNetwork:
        fields["dueling"] = st.booleans()
    if kind is SpikingActorCritic:
        fields.update(steps=st.integers(1, 4), beta=st.floats(0.01, 0.99), slope=st.floats(0.1, 50),
                      input_gain=st.floats(0.1, 10))
    bad = {"obs_size": small_int(1, 4).filter(lambda v: not _is_int(v) or v < 1),
           "actions": small_int(1, 3).filter(lambda v: not _is_int(v) or v < 1),
           "hidden": HIDDEN_BAD if kind in (MLPActorCritic, QNetwork)
           else small_int(1, 6).filter(lambda v: not _is_int(v) or v < 1),
           "steps": small_int(1, 4).filter(lambda v: not _is_int(v) or v < 1)}
    kwargs = corrupt(data, fields, bad, most=2)
    policy = attempt(kind.__name__, kind, **kwargs)
    if policy is None:
        return
    obs = torch.randn(3, kwargs["obs_size"])
    out = policy(obs)
    assert_finite(out, f"{kind.__name__} output")
    if kind is not QNetwork:
        act = attempt("Greedy", Greedy, data.draw(either(st.just(policy), ANYTHING), label="policy"))
        if act is not None:
            assert act(obs).shape == (3,)


@fuzz_settings(16)
@given(data=st.data())
def test_rl_evaluate(data):
    from neuroai.rl import Greedy, MLPActorCritic, evaluate, frame_strip

    act = data.draw(either(st.sampled_from([Greedy(MLPActorCritic(4, 2, (4,))),
                                            lambda obs: torch.zeros(len(obs), dtype=torch.long)]),
                           st.one_of(st.just(Greedy(MLPActorCritic(3, 2))), st.just(lambda obs: obs), ODD)),
                    label="act")
    env_id = data.draw(st.one_of(st.just("CartPole-v1"), st.just("CartPole-v1"), ENV_IDS), label="env_id")
    if data.draw(st.booleans()):
        kwargs = corrupt(data, {"episodes": st.integers(1, 2), "seed": st.integers(0, 99)},
                         {"episodes": small_int(1, 2).filter(lambda v: not _is_int(v) or v < 0), "seed": SEEDS})
        returns = attempt("evaluate", evaluate, act, env_id, **kwargs)
        if returns is not None:
            assert len(returns) == kwargs["episodes"]
            assert_finite(returns, "returns")
    else:
        kwargs = corrupt(data, {"frames": st.integers(1, 2), "every": st.integers(1, 30), "seed": st.integers(0, 99)},
                         {"frames": ODD, "every": ODD, "seed": SEEDS})
        strip = attempt("frame_strip", frame_strip, act, env_id, **kwargs)
        if strip is not None:
            assert strip.ndim == 3 and strip.dtype == np.uint8


# --- data -------------------------------------------------------------------------------------------------------

LABELS = st.one_of(hnp.arrays(np.int64, st.integers(1, 12), elements=st.integers(0, 3)),
                   st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=8),
                   hnp.arrays(np.float64, st.integers(0, 6), elements=ELEMENTS), ODD)


@fuzz_settings(30)
@given(data=st.data())
def test_data_splits(data):
    from neuroai.data import digits_train_test, train_val_test_split

    if data.draw(st.integers(0, 5)) == 0:
        kwargs = corrupt(data, {"test": st.floats(0, 0.5), "seed": st.integers(0, 9)},
                         {"test": ODD_NUMBERS, "seed": SEEDS}, most=1)
        split = attempt("digits_train_test", digits_train_test, **kwargs)
        if split is not None:
            assert_finite(split["train"][0], "digits")
        return
    kwargs = corrupt(data, {"n_or_labels": st.one_of(st.integers(1, 20), LABELS), "val": st.floats(0, 0.45),
                            "test": st.floats(0, 0.45), "seed": st.integers(0, 9), "stratify": st.booleans()},
                     {"n_or_labels": st.one_of(ODD, st.just(2 ** 62)), "seed": SEEDS}, most=2)
    split = attempt("train_val_test_split", train_val_test_split, kwargs.pop("n_or_labels"), **kwargs)
    if split is not None:
        everything = np.concatenate([split.train, split.val, split.test])
        assert len(np.unique(everything)) == len(everything)


SQUARE = hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.just(6), st.just(6)),
                    elements=st.floats(0, 1, width=32))                           # (n, S, S) images in [0, 1]
CHANNELS = hnp.arrays(np.float32, st.tuples(st.integers(1, 2), st.just(1), st.just(5), st.just(5)),
                      elements=st.floats(0, 1, width=32))                         # (n, C, H, W)
ODD_IMAGES = st.one_of(
    hnp.arrays(np.float32, st.tuples(st.just(0), st.just(6), st.just(6))), CHANNELS,
    hnp.arrays(np.float64, st.tuples(st.integers(1, 2), st.integers(0, 5), st.integers(1, 5)), elements=ELEMENTS),
    some_arrays(4, 3), st.just(np.zeros((2, 6, 6), dtype=bool)))


def tensors(arrays: st.SearchStrategy) -> st.SearchStrategy:
    """Numpy arrays as tensors (anything else as it is)."""
    return arrays.map(lambda a: torch.as_tensor(a) if isinstance(a, np.ndarray) and a.dtype.kind in "biuf" else a)


@fuzz_settings(40)
@given(data=st.data())
def test_data_augment(data):
    from neuroai.data import AddNoise, Cutout, RandomAffine

    kind = data.draw(st.sampled_from([RandomAffine, AddNoise, Cutout]))
    generator = st.one_of(st.none(), st.builds(lambda: torch.Generator().manual_seed(0)))
    fields = {RandomAffine: {"degrees": st.floats(0, 90), "translate": st.floats(0, 0.5),
                             "scale": st.tuples(st.floats(0.5, 1), st.floats(1, 1.5)), "generator": generator},
              AddNoise: {"std": st.floats(0, 1), "clip": st.one_of(st.none(), st.just((0.0, 1.0))),
                         "generator": generator},
              Cutout: {"size": st.integers(1, 4), "generator": generator}}[kind]
    bad = {"scale": st.one_of(ODD, st.tuples(ODD_NUMBERS, ODD_NUMBERS), st.just((0.5, 1.0, 2.0))),
           "clip": st.one_of(ODD, st.tuples(ODD_NUMBERS, ODD_NUMBERS), st.just((1.0, 0.0)))}
    transform = attempt(kind.__name__, kind, **corrupt(data, fields, bad, most=2))
    if transform is None:
        return
    images = data.draw(either(tensors(st.one_of(SQUARE, CHANNELS)), st.one_of(tensors(ODD_IMAGES), ODD_IMAGES)),
                       label="images")
    out = attempt(f"{kind.__name__}()", transform, images)
    if out is not None:
        assert out.shape == images.shape
        assert_finite(out, "augmented images")


@fuzz_settings(50)
@given(data=st.data())
def test_data_distortions(data):
    from neuroai.data import distort
    from neuroai.data.distortions import projective, rotate, rotate_translate_scale, translated_cluttered

    images = data.draw(either(st.one_of(SQUARE, tensors(SQUARE)), st.one_of(ODD_IMAGES, tensors(ODD_IMAGES))),
                       label="images")
    fn = data.draw(st.sampled_from([distort, rotate, rotate_translate_scale, projective, translated_cluttered]))
    seed = {"seed": st.integers(0, 9)}
    fields = {distort: {"kind": st.sampled_from(["R", "RTS", "P", "TC"]), **seed},
              rotate: {"max_angle": st.floats(0, 180), **seed},
              rotate_translate_scale: {"canvas": st.one_of(st.none(), st.integers(6, 10)),
                                       "max_angle": st.floats(0, 90),
                                       "scale": st.tuples(st.floats(0.5, 1), st.floats(1, 1.5)), **seed},
              projective: {"noise": st.floats(0, 0.3), "scale": st.tuples(st.floats(0.5, 0.8), st.floats(0.8, 1)),
                           **seed},
              translated_cluttered: {"canvas": st.one_of(st.none(), st.integers(6, 14)), "pieces": st.integers(0, 3),
                                     "piece_size": st.one_of(st.none(), st.integers(1, 3)), **seed}}[fn]
    bad = {"seed": SEEDS, "canvas": st.one_of(ODD, st.just(2 ** 20)), "pieces": small_int(0, 3),
           "piece_size": st.one_of(ODD, st.just(50)),
           "scale": st.one_of(ODD, st.tuples(ODD_NUMBERS, ODD_NUMBERS), st.just((1.2, 0.7)), st.just((0.0, 0.0)))}
    kwargs = corrupt(data, fields, bad, most=2)
    out = attempt(fn.__name__, fn, images, **kwargs)
    if out is not None:
        assert out.ndim == 3 and len(out) == len(images)
        assert_finite(out, f"{fn.__name__} images")


@fuzz_settings(25)
@given(data=st.data())
def test_data_sequences(data):
    from neuroai.data.sequences import adding_problem, copy_memory, copy_memory_baseline

    which = data.draw(st.sampled_from(["adding", "copy", "baseline"]))
    big = st.one_of(ODD, st.just(2 ** 40))
    if which == "adding":
        kwargs = corrupt(data, {"n": st.integers(1, 4), "length": st.integers(2, 8), "seed": st.integers(0, 9)},
                         {"n": big, "length": big, "seed": SEEDS})
        out = attempt("adding_problem", adding_problem, **kwargs)
    elif which == "copy":
        kwargs = corrupt(data, {"n": st.integers(1, 3), "delay": st.integers(1, 5), "length": st.integers(1, 4),
                                "symbols": st.integers(2, 5), "seed": st.integers(0, 9)},
                         {"n": big, "delay": big, "length": big, "symbols": big, "seed": SEEDS})
        out = attempt("copy_memory", copy_memory, **kwargs)
    else:
        kwargs = corrupt(data, {"delay": st.integers(1, 5), "length": st.integers(1, 4), "symbols": st.integers(2, 5)},
                         {})
        out = attempt("copy_memory_baseline", copy_memory_baseline, **kwargs)
    if out is not None:
        assert_finite(out, which)


TOKENS = st.lists(st.sampled_from(["the", "cat", "sat", "<unk>", "<eos>", "a"]), max_size=12)


@fuzz_settings(60)
@given(data=st.data())
def test_data_text(tmp_path, data):
    from neuroai.data import Corpus, Vocabulary, load_corpus
    from neuroai.data.text import batchify, bptt_windows, read_lines, write_corpus

    which = data.draw(st.sampled_from(["vocab", "corpus", "files", "batchify"]))
    if which == "vocab":
        kwargs = corrupt(data, {"tokens": TOKENS, "max_size": st.one_of(st.none(), st.integers(3, 6))},
                         {"tokens": st.one_of(ODD, st.just("the cat"), st.lists(ODD, max_size=3))})
        vocab = attempt("Vocabulary", Vocabulary, **kwargs)
        if vocab is None:
            return
        ids = attempt("Vocabulary.encode", vocab.encode,
                      data.draw(st.one_of(TOKENS, ODD, st.just("cat")), label="encode"))
        if ids is not None:
            assert ids.dtype == torch.long and ids.ndim == 1
        words = attempt("Vocabulary.decode", vocab.decode,
                        data.draw(st.one_of(st.lists(st.integers(0, len(vocab) - 1), max_size=4),
                                            st.lists(st.integers(-3, 10), max_size=3), ODD), label="decode"))
        if words is not None:
            assert all(isinstance(w, str) for w in words)
    elif which == "corpus":
        lines = st.lists(st.sampled_from(["the cat sat", "a dog", "<unk> sat"]), max_size=3)
        good = st.fixed_dictionaries({"train": lines, "valid": lines, "test": lines})
        given_lines = data.draw(st.one_of(good, good, ODD, st.just({"train": "the cat", "valid": [], "test": []}),
                                          st.just({"train": ["a"]})), label="lines")
        corpus = attempt("Corpus.from_lines", Corpus.from_lines, given_lines, "fuzz",
                         data.draw(st.one_of(st.none(), st.integers(3, 9), ODD), label="max_vocab"))
        if corpus is not None:
            assert corpus.train.dtype == torch.long
    elif which == "files":
        folder = tmp_path / "corpus"
        write_corpus({"train": ["the cat sat"], "valid": ["a cat"], "test": ["the dog"]}, folder)
        binary = tmp_path / "binary.txt"
        binary.write_bytes(b"\xff\xfe\x00\x01")
        path = data.draw(st.one_of(st.just(folder), st.just(folder / "train.txt"), st.just(binary),
                                   st.just(tmp_path / "missing"), st.just(str(folder)), ODD), label="path")
        if data.draw(st.booleans()):
            out = attempt("read_lines", read_lines, path)
            if out is not None:
                assert all(isinstance(line, str) for line in out)
        else:
            attempt("load_corpus", load_corpus, path, data.draw(st.one_of(st.none(), st.integers(3, 9), ODD)))
    else:
        ids = data.draw(st.one_of(st.integers(0, 20).map(lambda n: torch.arange(n)), ODD), label="ids")
        batches = attempt("batchify", batchify, ids, data.draw(small_int(1, 4), label="batch_size"))
        if batches is not None:
            assert batches.ndim == 2
            windows = attempt("bptt_windows", lambda d, b: list(bptt_windows(d, b)),
                              data.draw(st.one_of(st.just(batches), ODD), label="data"),
                              data.draw(small_int(1, 5), label="bptt"))
            assert windows is None or all(len(x) == len(y) for x, y in windows)


def _idx(dtype_code: int, shape: tuple, payload: bytes | None = None) -> bytes:
    header = bytes([0, 0, dtype_code, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)
    size = int(np.prod(shape)) if shape else 1
    return header + (payload if payload is not None else bytes(size))


@fuzz_settings(40)
@given(data=st.data())
def test_data_mnist_idx(tmp_path, data):
    from neuroai.data import load_mnist_idx, read_idx

    garbage = st.one_of(st.binary(max_size=24), st.just(_idx(0x08, (2, 3, 3))[:-1]),
                        st.just(_idx(0x0D, (2,), bytes(8))), st.just(_idx(0x08, (2 ** 31, 2 ** 31), b"")),
                        st.just(b"\x00\x00\x08\xff"), st.just(_idx(0x08, (3,))))
    contents = {"train-images-idx3-ubyte": either(st.just(_idx(0x08, (2, 3, 3))), garbage),
                "train-labels-idx1-ubyte": either(st.just(_idx(0x08, (2,))), garbage)}
    folder = tmp_path / "mnist"
    folder.mkdir(exist_ok=True)
    for name in os.listdir(folder):
        (folder / name).unlink()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        raw = data.draw(contents[stem], label=stem)
        if data.draw(st.booleans()):
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw) if data.draw(st.booleans()) else raw)
        else:
            (folder / stem).write_bytes(raw)
    if data.draw(st.booleans()):
        path = data.draw(st.one_of(st.sampled_from([folder / n for n in sorted(os.listdir(folder))]),
                                   st.just(folder), st.just(tmp_path / "nothing"), ODD), label="path")
        array = attempt("read_idx", read_idx, path)
        if array is not None:
            assert isinstance(array, np.ndarray)
    else:
        directory = data.draw(either(st.one_of(st.just(folder), st.just(str(folder))),
                                     st.one_of(st.just(tmp_path / "nothing"), st.just(folder / os.listdir(folder)[0]),
                                               ANYTHING)), label="directory")
        split = data.draw(either(st.just("train"), st.one_of(st.just("test"), ANYTHING)), label="split")
        out = attempt("load_mnist_idx", load_mnist_idx, directory, split)
        if out is not None:
            assert_finite(out[0], "images")


# --- statistics, decoding, conversion ------------------------------------------------------------------------------

TRAIN = st.one_of(hnp.arrays(np.float64, st.integers(0, 5), elements=st.floats(0, 1)),
                  st.lists(st.floats(0, 1), max_size=4))
TRAINS = st.one_of(st.lists(TRAIN, max_size=3), hnp.arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                                           elements=st.floats(0, 1)))
ANY_TRAINS = st.one_of(TRAIN, TRAIN, TRAINS, TRAINS, some_arrays(2, 3), st.lists(some_arrays(1, 3), max_size=2),
                       st.just([True, False]), st.just("0.1 0.2"))


@pytest.fixture(scope="module")
def small_result():
    """A short run of 3 Poisson inputs (torch backend), spikes of 'inp' monitored."""
    import neuroai as na

    net = na.Network(dt=1e-3)
    net.add_input("inp", 3, na.PoissonRate(max_rate=200.0))
    net.add_population("out", 1)
    net.connect("inp", "out", weight=0.0)
    net.monitor("inp")
    return na.Simulator(net, "torch", seed=0).run(0.05, {"inp": np.ones(3)})


@fuzz_settings(80)
@given(data=st.data())
def test_statistics(small_result, data):
    from neuroai import statistics

    method = data.draw(either(st.sampled_from(["numpy", "numpy", "auto", "elephant"]), ANYTHING, 2), label="method")
    which = data.draw(st.sampled_from(["rates", "trains", "cv", "vr", "vp"]))
    if which == "rates":
        source = data.draw(either(st.just(small_result), ANYTHING), label="result")
        population = data.draw(either(st.one_of(st.just("inp"), st.just("out")), ANYTHING), label="population")
        out = attempt("firing_rates", statistics.firing_rates, source, population, method=method)
    elif which == "trains":
        out = attempt("spike_trains", statistics.spike_trains,
                      data.draw(either(st.just(small_result), ANYTHING), label="result"),
                      data.draw(either(st.just("inp"), ANYTHING), label="population"))
    elif which == "cv":
        source = data.draw(either(st.one_of(st.just(small_result), TRAINS), ANY_TRAINS), label="source")
        population = data.draw(either(st.one_of(st.none(), st.just("inp")), ANYTHING), label="population")
        out = attempt("isi_cv", statistics.isi_cv, source, population, method=method,
                      min_intervals=data.draw(small_int(1, 3), label="min_intervals"))
        if out is not None:
            assert np.all(np.isnan(out) | (out >= 0))
            return
    else:
        pairs = st.one_of(st.tuples(TRAIN, TRAIN), st.tuples(TRAINS, st.none()),
                          TRAINS.flatmap(lambda t: st.tuples(st.just(t), st.lists(TRAIN, min_size=len(t),
                                                                                  max_size=len(t)))))
        a, b = data.draw(either(pairs, st.tuples(ANY_TRAINS, st.one_of(st.none(), ANY_TRAINS))), label="a, b")
        if which == "vr":
            out = attempt("van_rossum_distance", statistics.van_rossum_distance, a, b, method=method,
                          tau=data.draw(small_real(1e-3, 1), label="tau"))
        else:
            q = data.draw(either(st.one_of(st.floats(0, 100), st.just(INF)), ANYTHING), label="q")
            out = attempt("victor_purpura_distance", statistics.victor_purpura_distance, a, b, method=method, q=q)
    if out is not None:
        assert_finite(out, which)


RASTERS = st.one_of(hnp.arrays(np.bool_, st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 3))),
                    hnp.arrays(np.bool_, st.tuples(st.integers(1, 6), st.integers(1, 3))),
                    hnp.arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 3)), elements=st.integers(0, 1)),
                    some_arrays(3, 3))


@fuzz_settings(45)
@given(data=st.data())
def test_decoding_readouts(small_result, data):
    from neuroai import decoding

    spikes = data.draw(st.one_of(RASTERS, RASTERS, st.just(small_result)), label="spikes")
    is_result = spikes is small_result
    name = data.draw(either(st.just("inp" if is_result else None), ODD, 2), label="name")
    dt = data.draw(either(st.just(None if is_result else 1e-3), st.one_of(st.just(1e-3), NUMBERS), 2), label="dt")
    which = data.draw(st.sampled_from(["counts", "rate", "first", "window"]))
    times = bounded_real(0, 0.006, 1e6)
    if which == "counts":
        kwargs = corrupt(data, {"t_start": st.floats(0, 0.003), "t_stop": st.one_of(st.none(), st.floats(0.002, 0.01))},
                         {"t_start": times, "t_stop": times})
        out = attempt("spike_counts", decoding.spike_counts, spikes, name, dt=dt, **kwargs)
    elif which == "rate":
        kwargs = corrupt(data, {"window": st.floats(1e-3, 4e-3), "step": st.one_of(st.none(), st.floats(1e-3, 3e-3))},
                         {"window": times, "step": bounded_real(1e-3, 3e-3, 1e6).filter(
                             lambda v: not (_is_real(v) and 0 < float(v) < 1e-3))})
        out = attempt("windowed_rate", decoding.windowed_rate, spikes, name, dt=dt, **kwargs)
    elif which == "first":
        out = attempt("first_spike_times", decoding.first_spike_times, spikes, name, dt=dt)
        if out is not None:
            assert not np.any(np.isnan(out))
            return
    else:
        n_trials = 3
        raster = data.draw(hnp.arrays(np.bool_, (6, n_trials, 2)), label="raster")
        labels = data.draw(st.one_of(st.just(np.array([0, 1, 0])), st.just(np.array(["a", "b", "a"])), LABELS),
                           label="labels")
        windows = data.draw(st.one_of(st.just([0.002, 0.004]), st.lists(st.floats(1e-3, 6e-3), min_size=1, max_size=2),
                                      some_arrays(1)), label="windows")
        kwargs = corrupt(data, {"readout": st.sampled_from(["counts", "first_spike"]),
                                "classifier": st.sampled_from(["nearest_mean", "linear"]), "folds": st.integers(2, 3),
                                "seed": st.integers(0, 9)},
                         {"folds": small_int(2, 3), "seed": SEEDS}, most=1)
        out = attempt("accuracy_vs_window", decoding.accuracy_vs_window, raster, None, labels, windows, dt=1e-3,
                      **kwargs)
        if out is not None:
            assert_finite([out.accuracy, out.spikes, out.chance], "readout curve")
        return
    if out is not None:
        assert_finite(out, which)


FEATURES = either(st.one_of(float_arrays(st.tuples(st.integers(1, 6), st.integers(1, 3)), st.floats(0, 5)),
                           float_arrays(st.tuples(st.integers(2, 6), st.integers(1, 3)), st.integers(0, 4).map(float))),
                 st.one_of(float_arrays(st.tuples(st.integers(0, 6), st.integers(1, 3))), some_arrays(3, 4)))


@fuzz_settings(60)
@given(data=st.data())
def test_decoding_classifiers(data):
    from neuroai import decoding

    which = data.draw(st.sampled_from(["NearestClassMean", "LabelAssignment", "LinearClassifier", "LinearDecoder",
                                       "fold_indices", "cross_validated_accuracy"]))
    X = data.draw(FEATURES, label="X")
    rows = len(X) if isinstance(X, np.ndarray) and X.ndim else 3
    labels = data.draw(either(st.one_of(hnp.arrays(np.int64, (rows,), elements=st.integers(0, 2)),
                                        st.just(np.arange(rows) % 2)), LABELS), label="y")
    if which == "fold_indices":
        out = attempt(which, decoding.fold_indices, labels, data.draw(small_int(2, 4), label="folds"),
                      data.draw(SEEDS, label="seed"))
    elif which == "cross_validated_accuracy":
        classifier = data.draw(st.one_of(st.sampled_from(["nearest_mean", "linear"]),
                                         st.just(decoding.LabelAssignment()),
                                         ODD), label="classifier")
        out = attempt(which, decoding.cross_validated_accuracy, X, labels, classifier=classifier,
                      folds=data.draw(small_int(2, 3), label="folds"), seed=data.draw(SEEDS, label="seed"))
    else:
        kind = getattr(decoding, which)
        ridge = {"ridge": data.draw(small_real(0, 1), label="ridge")} if which.startswith("Linear") else {}
        model = attempt(which, kind, **ridge)
        if model is None:
            return
        if which == "LinearDecoder":
            labels = data.draw(st.one_of(float_arrays((rows, 2), st.floats(-1, 1)), some_arrays(2, 4)), label="Y")
        if data.draw(st.integers(0, 5)) == 0:   # predict before fit
            attempt(f"{which}.predict", model.predict, X)
            return
        fitted = attempt(f"{which}.fit", model.fit, X, labels)
        if fitted is None:
            return
        X2 = data.draw(st.one_of(st.just(X), FEATURES), label="X2")
        out = attempt(f"{which}.predict", model.predict, X2)
        if out is not None and which == "LinearDecoder":
            assert_finite(out, "prediction")
        return
    if out is not None:
        assert_finite(out, which)


@fuzz_settings(60)
@given(data=st.data())
def test_decoding_population_and_tuning(data):
    from neuroai import decoding

    which = data.draw(st.sampled_from(["population_vector", "angular_difference", "tuning_curves",
                                       "fit_cosine_tuning"]))
    n = data.draw(st.integers(1, 3))
    rates = data.draw(either(float_arrays((4, n), st.floats(0, 10)), some_arrays(2, 4)), label="rates")
    if which == "population_vector":
        kwargs = corrupt(data, {"period": st.one_of(st.none(), st.just(2 * math.pi)), "baseline": st.just(0.0),
                                "scale": st.one_of(st.just(1.0), float_arrays((n,), st.floats(0.5, 2)))},
                         {"period": ODD_NUMBERS, "baseline": some_arrays(1),
                          "scale": st.one_of(some_arrays(1), st.just(0.0))})
        preferred = data.draw(st.one_of(float_arrays((n,), st.floats(0, 6)), some_arrays(1)), label="preferred")
        out = attempt(which, decoding.population_vector, rates, preferred, **kwargs)
        if out is not None:   # NaN where the vector vanishes, documented; never inf
            assert not np.any(np.isinf(out))
        return
    if which == "angular_difference":
        out = attempt(which, decoding.angular_difference, rates, data.draw(some_arrays(2, 4), label="b"),
                      data.draw(small_real(0.1, 7), label="period"))
    elif which == "tuning_curves":
        stimuli = data.draw(either(hnp.arrays(np.int64, (4,), elements=st.integers(0, 2)), LABELS), label="stimuli")
        out = attempt(which, decoding.tuning_curves, rates, stimuli)
    else:
        angles = data.draw(st.one_of(float_arrays((4,), st.floats(0, 6.3)), some_arrays(1, 5)), label="angles")
        out = attempt(which, decoding.fit_cosine_tuning, rates, angles)
        if out is not None:
            out = [out.baseline, out.depth, out.preferred]
    if out is not None:
        assert_finite(out, which)


@pytest.fixture(scope="module")
def tiny_mlp():
    from neuroai.models import MLP
    return MLP([4, 6, 3], bias=False, seed=3)


@fuzz_settings(40)
@given(data=st.data())
def test_conversion(tiny_mlp, data):
    from neuroai.conversion import ann_to_network, conversion_accuracy, output_counts, present
    from neuroai.models import MLP

    import neuroai as na

    mlp = data.draw(either(st.just(tiny_mlp), st.sampled_from([MLP([4, 2], seed=0), "mlp", None,
                                                              MLP([4, 2], bias=False, activation="tanh", seed=0)])),
                    label="mlp")
    pixels = torch.rand(2, 4, generator=torch.Generator().manual_seed(0))   # (fixed: hypothesis replays inputs)
    images = either(st.one_of(float_arrays(st.tuples(st.integers(1, 3), st.just(4)), st.floats(0.2, 1)),
                              float_arrays((2, 2, 2), st.floats(0.2, 1)), st.just(pixels + 0.1)),
                    st.one_of(some_arrays(2, 4), st.just(np.ones((2, 4), dtype=bool)), st.just(pixels * 2)))
    x = data.draw(images, label="calibration_x")
    kwargs = corrupt(data, {"percentile": st.floats(50, 100), "dt": st.sampled_from([1e-3, 1e-4]),
                            "max_rate": st.one_of(st.none(), st.floats(10, 500)), "encoder": st.none()},
                     {"dt": NUMBERS, "max_rate": NUMBERS,
                      "encoder": st.one_of(st.just(na.PoissonRate(200.0)), st.just(na.RegularRate(50.0)), ODD)},
                     most=1)
    conversion = attempt("ann_to_network", ann_to_network, mlp, x, **kwargs)
    if conversion is None:
        return
    assert_finite(list(conversion.scales), "scales")
    steps = data.draw(small_int(1, 8), label="steps")
    samples = data.draw(images, label="x")
    result = attempt("conversion.present", present,
                     data.draw(either(st.just(conversion.network), ANYTHING),
                               label="network"), samples, steps=steps,
                     **corrupt(data, {"backend": st.just("torch"), "seed": st.integers(0, 9)},
                               {"backend": st.one_of(st.just("nengo"), ODD), "seed": SEEDS}, most=1))
    if result is None:
        return
    checkpoints = data.draw(st.one_of(st.lists(st.integers(1, steps), min_size=1, max_size=2),
                                      st.lists(ODD_NUMBERS, max_size=2), ODD), label="checkpoints")
    target = data.draw(either(st.just(result), ANYTHING), label="result")
    if data.draw(st.booleans()):
        counts = attempt("output_counts", output_counts, target, checkpoints)
        if counts is not None:
            assert counts.dtype == np.int64
    else:
        labels = data.draw(st.one_of(hnp.arrays(np.int64, (len(samples),), elements=st.integers(0, 1)), LABELS),
                           label="y")
        accuracy = attempt("conversion_accuracy", conversion_accuracy, target, labels, checkpoints)
        if accuracy is not None:
            assert all(0 <= a <= 1 for a in accuracy.values())


# --- experiments -------------------------------------------------------------------------------------------------

def _metrics(**params) -> dict:
    """A sweep's function: metrics from any parameters."""
    return {"loss": float(len(params)), "score": 1.0}


@fuzz_settings(35)
@given(data=st.data())
def test_experiments_sweeps(tmp_path, data):
    from neuroai.experiments import Sweep, grid, sweep

    axes = data.draw(st.dictionaries(st.sampled_from(["lr", "seed", "width"]),
                                     st.one_of(st.lists(st.integers(0, 3), min_size=1, max_size=2, unique=True),
                                               st.just(range(2)), st.just(np.array([0.1, 0.2])), ODD),
                                     max_size=2), label="axes")
    cells = attempt("grid", grid, **axes)
    if cells is None or data.draw(st.integers(0, 4)) == 0:
        cells = data.draw(st.one_of(st.just([{"a": 1}, {"a": 2}]), ODD, st.lists(ODD, max_size=2)),
                          label="cells")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    kwargs = corrupt(data, {"out": st.one_of(st.none(), st.just(tmp_path / "sweep")), "executor": st.just("serial"),
                            "workers": st.one_of(st.none(), st.integers(1, 2)), "resume": st.booleans(),
                            "progress": st.just(False)},
                     {"out": st.one_of(st.just(blocker), st.just(blocker / "x"), ODD),
                      "executor": st.one_of(st.just("threads"), ODD),  # ("ray": ImportError, no extra here)
                      "workers": small_int(1, 2), "progress": QUIET}, most=1)
    fn = data.draw(either(st.just(_metrics), ANYTHING), label="fn")
    result = attempt("sweep", sweep, fn, cells, **kwargs)
    if result is None:
        result = Sweep([{"lr": 0.1, "seed": 0, "loss": 1.0, "status": "ok"},
                        {"lr": 0.1, "seed": 1, "loss": 2.0, "status": "ok"}], axes=["lr", "seed"])
    metric = data.draw(either(st.just("loss"), ANYTHING), label="metric")
    by = data.draw(either(st.one_of(st.none(), st.just("lr"), st.just([])), ANYTHING), label="by")
    table = attempt("Sweep.table", result.table, metric, by)
    if table is not None:
        assert all(row["n"] >= 1 for row in table)
    path = data.draw(either(st.just(tmp_path / "rows.csv"), st.one_of(st.just(blocker / "rows.csv"), ANYTHING)),
                     label="csv")
    attempt("Sweep.to_csv", result.to_csv, path)


@fuzz_settings(30)
@given(data=st.data())
def test_experiments_records(tmp_path, data):
    from neuroai.experiments import RunRecord, markdown_table

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    kwargs = corrupt(data, {"name": st.sampled_from(["study", "b2"]), "root": st.just(tmp_path / "runs")},
                     {"name": st.one_of(ODD, st.sampled_from(["", "..", "a/b", "/abs", "x\x00y", "."])),
                      "root": st.one_of(st.just(blocker), st.just(blocker / "r"), ODD)}, most=1)
    record = attempt("RunRecord", RunRecord, **kwargs)
    rows = st.lists(st.dictionaries(st.sampled_from(["a", "b|c"]),
                                    st.one_of(st.floats(), st.integers(), st.text(max_size=3)), max_size=2), max_size=3)
    any_rows = st.one_of(rows, rows, ODD, st.lists(ODD, max_size=2))
    if record is None:
        table = attempt("markdown_table", markdown_table, data.draw(any_rows, label="rows"))
        if table is not None:
            assert isinstance(table, str)
        return
    which = data.draw(st.sampled_from(["config", "metrics", "summary"]))
    if which == "config":
        parameters = data.draw(either(st.dictionaries(st.text(max_size=3), st.one_of(NUMBERS, st.text(max_size=3)),
                                                      max_size=3), ANYTHING), label="parameters")
        attempt("RunRecord.write_config", record.write_config, parameters, data.draw(SEEDS, label="seed"))
    elif which == "metrics":
        attempt("RunRecord.write_metrics", record.write_metrics, data.draw(any_rows, label="rows"))
    else:
        attempt("RunRecord.write_summary", record.write_summary, data.draw(st.one_of(st.text(max_size=5), ODD)),
                data.draw(any_rows, label="rows"), data.draw(st.one_of(st.text(max_size=5), ODD), label="text"))


# --- the command line ----------------------------------------------------------------------------------------------

TOY = '''\
"""Toy study: writes its arguments."""
from neuroai.cli import script_main


def add_arguments(parser):
    parser.add_argument("--width", type=int, default=3)


def run(record, *, quick, seed, width):
    record.write_config({"quick": quick, "width": width}, seed)
    return {"seed": seed}


if __name__ == "__main__":
    raise SystemExit(script_main(run))
'''

WORDS = st.one_of(st.sampled_from(["list", "run", "backends", "toy", "broken", "no_such_study", "--quick", "--seed",
                                   "--out", "--width", "--quiet", "--verbose", "-h", "--help", "--version", "5", "-1",
                                   "2.5", "4294967296", "²", "", " ", "x\x00y", "--seed=3", "--width=a", "OUT",
                                   "--", "-"]),
                  st.text(max_size=4))


@fuzz_settings(45)
@given(data=st.data())
def test_cli(tmp_path, monkeypatch, capsys, data):
    from neuroai import cli

    folder = tmp_path / "sims"
    folder.mkdir(exist_ok=True)
    (folder / "toy.py").write_text(TOY)
    (folder / "broken.py").write_text('"""No run function."""\n')
    monkeypatch.setenv("NEUROAI_SIMULATIONS", str(folder))
    monkeypatch.chdir(tmp_path)
    head = data.draw(st.one_of(st.just(["run", "toy"]), st.just(["run", "toy"]), st.just(["run"]), st.just([])),
                     label="head")
    words = data.draw(st.lists(WORDS, max_size=5), label="words")
    argv = [w.replace("OUT", str(tmp_path / "runs")) for w in head + words]
    if data.draw(st.integers(0, 9)) == 0:
        argv = data.draw(ODD, label="argv")

    def main(argv):
        try:
            return cli.main(argv)
        except SystemExit as exit_:
            return exit_.code

    code = attempt("cli.main", main, argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    if isinstance(argv, list) and all(isinstance(w, str) for w in argv):
        assert code is not None, f"cli.main({argv!r}) raised instead of exiting"  # (a user sees a traceback)
    if code is not None:
        assert code in (0, 1, 2), code
        if code:
            assert captured.err.strip(), f"exit code {code} without a message, argv {argv!r}"
