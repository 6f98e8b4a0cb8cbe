"""The custom_models study, run quick (seed 0): files written, written models against theory, both
backends identical, the written neuron trains."""
import csv
import json

import numpy as np
import pytest
from scipy import integrate

from neuroai import cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = cli.load("custom_models")
    record, metrics = cli.execute("custom_models", module.run, quick=True, seed=0,
                                  out=tmp_path_factory.mktemp("runs"))
    with open(record.path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return module, record.path, metrics, rows


def test_files_written(study):
    _, path, m, rows = study
    for f in ("config.json", "metrics.csv", "summary.md", "custom_models.png"):
        assert (path / f).stat().st_size > 0, f
    config = json.loads((path / "config.json").read_text())
    assert config["seed"] == 0 and config["parameters"]["quick"] is True
    assert {r["part"] for r in rows} == {"QIF f-I", "EIF f-I", "TM depressing", "TM facilitating", "Clopath"}


def test_every_model_runs_identically_on_both_backends(study):
    _, _, m, _ = study
    flags = {k: v for k, v in m.items() if k.endswith("identical")}
    assert len(flags) == 6 and all(v is True for v in flags.values()), flags


def test_qif_rates_match_the_period_integral(study):
    """The rate measured on both backends against 1 / integral of dv / (dv/dt), computed here by quadrature."""
    module, _, _, rows = study
    p = module.Params()
    qif = [r for r in rows if r["part"] == "QIF f-I"]
    assert len(qif) == len(p.qif_currents)
    for r in qif:
        current = float(r["x"])
        period, _ = integrate.quad(lambda v: p.qif_tau / (v * v + current), p.qif_v_reset, p.qif_v_peak)
        for backend in ("brian2", "torch"):
            # spikes fall on the dt grid: at most one step late per period
            assert float(r[backend]) * period == pytest.approx(1.0, abs=p.fi_dt / period + 1e-4)


def test_eif_and_tsodyks_markram_match_their_analytic_forms(study):
    module, _, m, rows = study
    assert m["EIF_max_rate_error"] < 0.005
    assert m["tm_depressing_max_error"] < 1e-6
    assert m["tm_facilitating_max_error"] < 0.005
    facilitating = sorted((float(r["x"]), float(r["torch"])) for r in rows if r["part"] == "TM facilitating")
    depressing = sorted((float(r["x"]), float(r["torch"])) for r in rows if r["part"] == "TM depressing")
    # a first spike's efficacy is U x = U: depression lowers it more the higher the rate, facilitation raises it
    U_depressing, U_facilitating = (module.TSODYKS_MARKRAM[r][0] for r in ("depressing", "facilitating"))
    assert depressing[0][1] < U_depressing and all(a[1] > b[1] for a, b in zip(depressing, depressing[1:]))
    assert facilitating[0][1] > 2 * U_facilitating


def test_clopath_post_pre_pairing_depresses_at_low_and_potentiates_at_high_frequency(study):
    _, _, m, _ = study
    pre_post, post_pre = np.array(m["clopath_pre_post"]), np.array(m["clopath_post_pre"])
    assert np.all(pre_post > 0.02)
    assert post_pre[0] < -0.01 and post_pre[-1] > 0.01


def test_the_written_neuron_trains_and_keeps_its_spikes_in_brian2(study):
    _, _, m, _ = study
    assert m["train_loss_last"] < 0.2 * m["train_loss_first"]
    assert m["trained_identical"] and m["trained_spikes"] > 0
