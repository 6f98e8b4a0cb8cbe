"""The brunel_network study, run quick (seed 0; 1,000 + 250 neurons, AI and SR on brian2, torch and nest):
files written, the regimes' statistics as measured, the three backends' spikes identical, and its pieces
(fixed in-degree, the binary-coded Poisson drive, the command line)."""
import csv
import json

import numpy as np
import pytest

from neuroai import cli
from neuroai.experiments import markdown_table

NAME = "brunel_network"


@pytest.fixture(scope="module")
def module():
    return cli.load(NAME)


@pytest.fixture(scope="module")
def study(module, tmp_path_factory):
    plot = tmp_path_factory.mktemp("plot") / "rasters.svg"
    record, metrics = cli.execute(NAME, module.run, quick=True, seed=0, out=tmp_path_factory.mktemp("runs"),
                                  plot=plot)
    return record.path, metrics, plot


def rows_of(metrics, regime):
    return {r["backend"]: r for r in metrics["rows"] if r["regime"] == regime}


def test_files_written(study):
    path, m, plot = study
    for f in ("config.json", "metrics.csv", "summary.md", f"{NAME}.png"):
        assert (path / f).stat().st_size > 0, f
    assert plot.read_text().startswith("<?xml")   # --plot FILE: the same figure, in FILE's format
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert config["parameters"]["backends_run"] == ["brian2", "torch", "nest"]
    assert list(config["parameters"]["regimes_run"]) == ["AI", "SR"]
    assert m["sizes"] == {"n_exc": 1000, "n_inh": 250, "c_exc": 100, "c_inh": 25, "j": 1.0}   # J C_E = 100 mV
    with open(path / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    summary = (path / "summary.md").read_text()
    assert markdown_table(m["rows"]) in summary and "All spikes identical to brian2's" in summary


def test_the_three_backends_give_identical_spikes(study):
    _, m, _ = study
    assert m["identical"]
    for regime in ("AI", "SR"):
        rows = rows_of(m, regime)
        for backend in ("torch", "nest"):
            a = m["agreement"][regime][backend]
            assert a["first_difference_s"] is None
            assert a["matched"] == a["total"] == rows["brian2"]["spikes"] == rows[backend]["spikes"] > 0
            assert rows[backend]["same as brian2"] == f"{a['matched']:,} of {a['total']:,}"
            for stat in ("rate (Hz)", "CV", "chi 1 ms", "chi 10 ms", "Fano 1 ms", "Fano 10 ms"):
                assert rows[backend][stat] == rows["brian2"][stat], (regime, backend, stat)


def test_regimes_as_measured(study):
    _, m, _ = study
    ai, sr = rows_of(m, "AI")["brian2"], rows_of(m, "SR")["brian2"]
    # AI: irregular (measured CV 0.97) at a moderate rate (48.9 Hz), weakly synchronous (chi 0.12, Fano 14)
    assert ai["CV"] > 0.8 and 20 < ai["rate (Hz)"] < 100
    assert ai["chi 1 ms"] < 0.2 and ai["Fano 1 ms"] < 30
    # SR: regular (CV 0.10) near saturation (313 Hz; 1 / t_ref = 500 Hz), synchronous (chi 0.44, Fano 136)
    assert sr["CV"] < 0.3 and sr["rate (Hz)"] > 250
    assert sr["chi 1 ms"] > 2.5 * ai["chi 1 ms"] and sr["Fano 1 ms"] > 4 * ai["Fano 1 ms"]


def test_fixed_in_degree_masks(module):
    rng = np.random.default_rng(0)
    mask = module.fixed_in_degree(rng, 300, 300, 30, autapses=False, chunk=64)   # several chunks
    assert mask.shape == (300, 300) and np.all(mask.sum(0) == 30)
    assert not mask.diagonal().any()
    onto_other = module.fixed_in_degree(rng, 50, 200, 50, autapses=True)   # every source: a full mask
    assert onto_other.all()
    # sources are uniform: over 2,000 targets each of 100 sources is picked about 2000 * 10 / 100 times
    counts = module.fixed_in_degree(rng, 100, 2000, 10, autapses=True).sum(1)
    assert counts.sum() == 20_000 and np.all(np.abs(counts - 200) < 5 * np.sqrt(200))
    with pytest.raises(ValueError, match="in-degree"):
        module.fixed_in_degree(rng, 10, 10, 10, autapses=False)


def test_binary_drive_is_poisson(module):
    rng = np.random.default_rng(1)
    rasters = module.binary_poisson_drive(rng, 2.0, 20_000, 50)
    counts = sum(r.astype(np.int64) << j for j, r in enumerate(rasters))
    assert len(rasters) == int(counts.max()).bit_length() and all(r.dtype == bool for r in rasters)
    assert counts.mean() == pytest.approx(2.0, rel=0.01)
    assert counts.var() == pytest.approx(2.0, rel=0.02)   # Poisson: variance = mean
    k = np.arange(8)
    poisson = np.exp(-2.0) * 2.0 ** k / np.cumprod(np.r_[1, k[1:]])
    np.testing.assert_allclose(np.bincount(counts.ravel(), minlength=8)[:8] / counts.size, poisson, atol=3e-3)


def test_command_line_errors(module, capsys, tmp_path):
    for argv, message in ((["--backends", "brian2", "brian3"], "invalid choice: 'brian3'"),
                          (["--backends", "nest", "nest"], "each backend at most once"),
                          (["--regimes", "AI", "XY"], "invalid choice: 'XY'"),
                          (["--plot", str(tmp_path / "fig.jpg")], "must be a .png, .pdf or .svg file"),
                          (["--plot", str(tmp_path / "missing" / "fig.png")], "does not exist")):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run", NAME, "--out", str(tmp_path), *argv])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err, argv
    with pytest.raises(ValueError, match="distinct names"):
        module.run(None, backends=["torch", "torch"])
