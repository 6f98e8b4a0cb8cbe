"""The stn_distorted_digits study, run quick (digits 8x8, R and RTS, seed 0): files written, every model
above chance, the transformers help on RTS and have learned to transform."""
import csv
import json

import pytest

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")

CHANCE = 90.0   # % error of a guess among 10 classes


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("stn_distorted_digits")
    record, metrics = cli.execute("stn_distorted_digits", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    return module, record.path, metrics


def test_files_written(study):
    module, path, m = study
    for f in ("config.json", "metrics.csv", "summary.md", "training_curves.png", "transformations.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    p = config["parameters"]
    assert p["distortions"] == ["R", "RTS"] and p["dataset"] == "digits"
    with open(path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    per_distortion = len(module.MODELS) * p["epochs"] + len(module.SPIKING) * p["snn_epochs"]
    assert len(rows) == 2 * per_distortion          # one row per distortion, model and epoch
    assert "| model | R | RTS |" in (path / "summary.md").read_text()   # the paper's Table 1 layout


def test_same_data_and_budget_for_every_model(study):
    module, _, m = study
    assert set(m["errors"]) == {"R", "RTS"}
    for kind, errors in m["errors"].items():
        assert list(errors) == [*module.MODELS, *module.SPIKING], kind
    epochs = {(r["model"] in module.SPIKING, r["epochs"]) for r in m["rows"]}
    assert len(epochs) == 2                          # one budget for the ANNs, one for the SNNs


def test_every_model_beats_chance(study):
    _, _, m = study
    for kind, errors in m["errors"].items():
        for name, error in errors.items():
            # measured (seeds 0-2): ANNs 5.6-45%, ST-SNN 25-54%. The SNN alone is the weakest: 29-39%
            # on R but 73-80% on RTS (20-27% accuracy on 360 test digits: 6-10 binomial standard
            # deviations above chance, no more; without a transformer it barely learns RTS in 3 epochs)
            limit = 85.0 if name == "SNN" else 60.0
            assert error < limit < CHANCE, (kind, name, error)


def test_transformers_help_on_rts(study):
    _, _, m = study
    rts = m["errors"]["RTS"]
    # RTS (digits rotated, scaled and moved on a 12x12 canvas): every transformer helps. Measured
    # (seed 0) FCN 43.2 -> ST-FCN 17.5, CNN 43.5 -> ST-CNN 29.2, SNN 73.5 -> ST-SNN 49.0; over seeds 0-2
    # the ratios are 0.41-0.44, 0.67-0.81 and 0.58-0.70.
    assert rts["ST-FCN"] < 0.6 * rts["FCN"]
    assert rts["ST-CNN"] < 0.85 * rts["CNN"]
    assert rts["ST-SNN"] < 0.8 * rts["SNN"]
    # R (rotations of 8x8 digits) is not asserted: at this size and budget the differences are within
    # or near the noise of 360 test digits (a difference has a binomial std of 2-3.5 points) and change
    # sign across seeds 0-2 (ST-FCN vs FCN 8.9/8.6, 5.6/7.0, 6.7/7.5; ST-CNN vs CNN 15.6/19.2, 14.5/16.4,
    # 16.2/15.9; ST-SNN vs SNN 34.0/38.7, 30.4/34.5, 25.3/29.2): the FCN localization network barely
    # leaves the identity in 10 epochs (see below) and the CNN's turns the digits by a few degrees
    # only. The full run (MNIST 28x28, 20 epochs) shows the gains on R.


def test_learned_transforms_are_not_the_identity(study):
    _, _, m = study
    for kind, models in m["transforms"].items():
        for name, stats in models.items():
            assert stats["theta distance"] > 0.03, (kind, name, stats)      # measured 0.05-0.59 (seeds 0-2)
    rts = m["transforms"]["RTS"]
    for name in ("ST-FCN", "ST-CNN"):
        # the RTS digits fill 0.47-0.8 of the canvas' side: the transformers zoom in on them
        # (measured distance 0.48-0.59, scale 0.71-0.80 over seeds 0-2)
        assert rts[name]["theta distance"] > 0.3 and rts[name]["scale"] < 0.9, (name, rts[name])
    # on R the ST-CNN turns the digits, by angles that vary from digit to digit (measured std 4.8-11.6 degrees)
    assert m["transforms"]["R"]["ST-CNN"]["rotation std (deg)"] > 3
    assert m["transforms"]["RTS"]["ST-SNN"] == rts["ST-CNN"]               # the SNN's transformer: the ST-CNN's, frozen
