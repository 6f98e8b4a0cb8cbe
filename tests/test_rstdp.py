"""The R-STDP agent: it learns its contextual bandit, identically on both backends, because of the reward."""
import numpy as np
import pytest

from neuroai.rl import RSTDPConfig, RSTDPResult, evaluate_rstdp, train_rstdp
from neuroai.rl.rstdp import build_network, mean_weights

# 3 cues, 4 actions: a random policy is right on 25% of the trials
SHORT = RSTDPConfig(n_cues=3, trials=90, block=30)


@pytest.fixture(scope="module")
def learned():
    return train_rstdp(SHORT, "torch", seed=0, progress=False)


def test_agent_learns_the_mapping_well_above_chance(learned):
    result = learned
    assert isinstance(result, RSTDPResult) and result.chance == 0.25
    assert len(result.episodes) == 90 and result.steps == 90
    assert [t for t, _ in result.episodes] == list(range(90))
    rewards = result.returns()
    np.testing.assert_array_equal(rewards, np.where(result.correct, 1.0, -1.0))
    assert result.accuracy.shape == (3,)
    # 30 trials at chance 0.25 reach 0.8 with probability < 1e-8
    assert result.accuracy[-1] >= 0.8, result.accuracy
    assert result.accuracy[0] < result.accuracy[-1]
    # the chosen action is the group that fired most, and groups did fire
    np.testing.assert_array_equal(result.counts.argmax(1)[result.counts.max(1) > 0],
                                  result.actions[result.counts.max(1) > 0])
    assert result.counts.sum(1).mean() > 5
    # the learned weights encode the mapping: each cue pulls hardest on its rewarded action
    np.testing.assert_array_equal(result.weights.argmax(1), result.mapping)
    np.testing.assert_allclose(result.weights, mean_weights(result.model, SHORT))
    initial = build_network(SHORT, seed=0).projections["cue_to_action"].weights
    assert not np.array_equal(result.model.projections["cue_to_action"].weights, initial)


def test_the_learned_network_acts_correctly_with_plasticity_off(learned):
    assert evaluate_rstdp(learned, repeats=4, seed=5) >= 0.9
    naive = RSTDPResult(episodes=[], model=build_network(SHORT, seed=0), seconds=0.0, steps=0,
                        mapping=learned.mapping, config=SHORT)
    assert evaluate_rstdp(naive, repeats=4, seed=5) <= 0.6  # untrained: near chance


def test_brian2_and_torch_give_the_same_spikes_choices_and_weights():
    config = RSTDPConfig(n_cues=2, trials=5, block=5)
    brian = train_rstdp(config, "brian2", seed=3, progress=False)
    torch_ = train_rstdp(config, "torch", seed=3, progress=False)
    assert brian.backend == "brian2" and torch_.backend == "torch"
    np.testing.assert_array_equal(brian.cues, torch_.cues)
    np.testing.assert_array_equal(brian.counts, torch_.counts)  # spikes of every group in every cue window
    np.testing.assert_array_equal(brian.actions, torch_.actions)
    assert brian.episodes == torch_.episodes
    for name, proj in brian.model.projections.items():
        np.testing.assert_array_equal(proj.weights, torch_.model.projections[name].weights, err_msg=name)
    # not vacuous: the groups fired and the rewards moved the weights
    assert brian.counts.sum() > 20
    initial = build_network(config, seed=3).projections["cue_to_action"].weights
    assert np.abs(brian.model.projections["cue_to_action"].weights - initial).max() > 1e-3


def test_reward_sign_drives_learning(learned):
    # no dopamine, no weight change: eligibility alone never moves a weight
    silent = train_rstdp(RSTDPConfig(n_cues=3, trials=20, block=20, reward_correct=0.0, reward_wrong=0.0),
                         "torch", seed=0, progress=False)
    initial = build_network(SHORT, seed=0).projections["cue_to_action"].weights
    np.testing.assert_array_equal(silent.model.projections["cue_to_action"].weights, initial)
    assert silent.counts.sum() > 0
    # inverted rewards: the same agent learns to avoid the mapped action
    inverted = train_rstdp(RSTDPConfig(n_cues=3, trials=90, block=30, reward_correct=-1.0, reward_wrong=1.0),
                           "torch", seed=0, progress=False)
    assert inverted.accuracy[-1] <= 0.1 < 0.8 <= learned.accuracy[-1]
    assert np.all(inverted.weights.argmax(1) != inverted.mapping)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_actions=1), ValueError, "RSTDPConfig: parameter 'n_actions' must be >= 2, got 1"),
    (dict(n_cues=2.5), TypeError, "RSTDPConfig: parameter 'n_cues' must be an integer, got 2.5"),
    (dict(trials=0), ValueError, "RSTDPConfig: parameter 'trials' must be >= 1, got 0"),
    (dict(trials=10, block=20), ValueError, r"RSTDPConfig: parameter 'block' must be <= trials \(10\), got 20"),
    (dict(eta=-1.0), ValueError, "RSTDPConfig: parameter 'eta' must be >= 0, got -1.0"),
    (dict(cue_rate=0.0), ValueError, "RSTDPConfig: parameter 'cue_rate' must be > 0, got 0.0"),
    (dict(reward_wrong=float("nan")), ValueError, "RSTDPConfig: parameter 'reward_wrong' must be finite"),
    (dict(w_init_high=0.5), ValueError, "w_init_low <= w_init_high <= w_max, got 0.05, 0.5, 0.3"),
    (dict(dt=0.05), ValueError, r"RSTDPConfig: dt \(0.05 s\) must be smaller than tau_m \(0.02 s\)"),
    (dict(cue_rate=2000.0), ValueError, r"cue_rate \* dt must be <= 1 spike per step, got 2000.0 \* 0.001"),
    (dict(cue_duration=1e-4), ValueError, r"'cue_duration' \(0.0001 s\) must last at least one step dt"),
])
def test_bad_config_fails_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        RSTDPConfig(**kwargs)


def test_bad_arguments_fail_before_training():
    with pytest.raises(TypeError, match="train_rstdp: parameter 'config' must be an RSTDPConfig, got dict"):
        train_rstdp({"trials": 5})
    with pytest.raises(ValueError, match=r"train_rstdp: parameter 'backend' must be one of \['brian2', 'torch'\]"):
        train_rstdp(SHORT, backend="nengo")
    with pytest.raises(ValueError, match="train_rstdp: parameter 'seed' must be >= 0, got -1"):
        train_rstdp(SHORT, "torch", seed=-1)
    with pytest.raises(TypeError, match="evaluate_rstdp: parameter 'result' must be an RSTDPResult"):
        evaluate_rstdp(None)
