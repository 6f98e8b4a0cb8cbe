"""The flagship study end to end, shrunk: every learner must beat chance
(10 classes) by a wide margin, and the run must leave its table and figure."""
import pytest

from neuroai import cli
from neuroai.experiments import RunRecord


@pytest.mark.slow
def test_every_learner_beats_chance_by_a_wide_margin(tmp_path, capsys):
    study = cli.load("compare_learning_rules")
    record = RunRecord("compare_learning_rules", tmp_path)
    rows = study.run(record, quick=True, seed=0, neurons=30, stdp_images=150, brian2_target="numpy",
                     sg_epochs=2, ann_epochs=10, brian2_images=4, conversion_steps=40)
    assert len(rows) == 4
    for learner, row in rows.items():
        assert row["test accuracy"] > 0.5, learner  # chance: 0.1
        assert row["labels used"] > 1000 and row["synaptic events per image"] > 0
    spiking = [name for name in rows if not name.startswith("ANN twin")]
    assert all(rows[name]["spikes per image"] > 0 for name in spiking)
    assert rows["ANN twin (ReLU)"]["spikes per image"] == 0
    # the conversion keeps close to its ANN on the same test images
    conversion = next(name for name in rows if name.startswith("ANN-to-SNN"))
    assert rows[conversion]["test accuracy"] > rows["ANN twin (ReLU)"]["test accuracy"] - 0.03
    assert (record.path / "compare_learning_rules.png").stat().st_size > 10_000
    assert "| STDP (Diehl & Cook) |" in (record.path / "summary.md").read_text()
    assert "surrogate-gradient SNN" in capsys.readouterr().out
