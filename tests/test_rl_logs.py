"""Training runs log their episodes and updates to CSV files and TensorBoard as they go, and a resumed run's
logs end as the uninterrupted run's."""
import csv
import sys

import pytest

from neuroai.rl import A2CConfig, CSVLog, DQNConfig, PPOConfig, RunLog, TensorBoardLog, train_a2c, train_dqn, train_ppo

pytestmark = pytest.mark.usefixtures("one_thread")

PPO = PPOConfig(total_timesteps=640, num_envs=2, num_steps=64, num_minibatches=2, update_epochs=2)


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_ppo_logs_every_episode_and_update_to_csv_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train_ppo("CartPole-v1", PPO, seed=0, progress=False,
                       logger=[CSVLog(tmp_path / "csv"), TensorBoardLog(tmp_path / "tb")])
    episodes = rows(tmp_path / "csv" / "episodes.csv")
    assert [(int(r["step"]), float(r["return"])) for r in episodes] == result.episodes
    updates = rows(tmp_path / "csv" / "updates.csv")
    assert [int(r["step"]) for r in updates] == [128 * k for k in range(1, 6)]
    assert set(updates[0]) == {"step", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                               "learning_rate", "mean_return_100"}
    assert [float(r["learning_rate"]) for r in updates] == pytest.approx([2.5e-4 * (1 - k / 5) for k in range(5)])
    last = [r for _, r in result.episodes if _ <= 640][-100:]
    assert float(updates[-1]["mean_return_100"]) == pytest.approx(sum(last) / len(last))

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("episode/return")]
    assert [s for s, _ in logged] == [s for s, _ in result.episodes]
    assert [v for _, v in logged] == pytest.approx([r for _, r in result.episodes])
    assert [e.step for e in events.Scalars("train/value_loss")] == [128 * k for k in range(1, 6)]
    assert len(events.Scalars("rollout/mean_return_100")) == 5


class Stop(Exception):
    pass


class StopAtUpdate(RunLog):
    """Interrupts a run at its n-th update, after the other logs have written it and before its checkpoint."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def update(self, step, values):
        self.seen += 1
        if self.seen == self.n:
            raise Stop


@pytest.mark.parametrize("train, config", [(train_ppo, PPO), (train_a2c, A2CConfig(total_timesteps=3000,
                                                                                     num_envs=2, num_steps=100))])
def test_a_resumed_run_logs_each_step_once_as_the_uninterrupted_run(train, config, tmp_path):
    options = {"seed": 1, "progress": False}
    if train is train_a2c:
        options["checkpoint_every"] = 200
    train("CartPole-v1", config, logger=CSVLog(tmp_path / "whole"), **options)
    with pytest.raises(Stop):
        train("CartPole-v1", config, logger=[CSVLog(tmp_path / "cut"), StopAtUpdate(2)],
              checkpoint=tmp_path / "run.pt", **options)
    assert len(rows(tmp_path / "cut" / "updates.csv")) == 2   # (one more than the checkpoint holds)
    train("CartPole-v1", config, logger=CSVLog(tmp_path / "cut"), checkpoint=tmp_path / "run.pt", **options)
    for name in ("episodes.csv", "updates.csv"):
        assert (tmp_path / "cut" / name).read_text() == (tmp_path / "whole" / name).read_text()


def test_dqn_logs_its_loss_and_exploration_rate(tmp_path):
    train_dqn("CartPole-v1", DQNConfig(total_timesteps=400, learning_starts=100), seed=0, progress=False,
              logger=CSVLog(tmp_path))
    updates = rows(tmp_path / "updates.csv")
    assert [int(r["step"]) for r in updates] == [100, 200, 300]
    assert float(updates[0]["exploration_rate"]) > float(updates[-1]["exploration_rate"])


def test_bad_loggers_are_refused(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match=r"train_ppo: parameter 'logger' must be a RunLog \(CSVLog, TensorBoardLog\) "
                                        r"or a list of them, got str"):
        train_ppo("CartPole-v1", PPO, logger="runs/", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"CSVLog: parameter 'folder' must name a folder, got .*file', which is a file"):
        CSVLog(tmp_path / "file")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"TensorBoardLog needs the 'tensorboard' package.*pip install tensorboard"):
        TensorBoardLog(tmp_path)
