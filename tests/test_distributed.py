"""Data-parallel training: two CPU processes under torchrun (gloo) take the
same steps as one process with the same global batch."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuroai.training import Trainer, distributed

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import distributed_worker  # noqa: E402


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(HERE / "distributed_worker.py"), str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=False)
    assert ddp["world_size"] == 2
    single_state, single_history = distributed_worker.train()
    for name, value in single_state.items():
        torch.testing.assert_close(ddp["state"][name], value, rtol=1e-9, atol=1e-12)
    for a, b in zip(ddp["history"], single_history, strict=True):  # losses and accuracies averaged over both
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-9)
    assert single_history[-1]["val_accuracy"] > single_history[0]["val_accuracy"] - 1e-9
    assert Path(str(out) + ".ckpt").exists()  # rank 0 wrote the checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.pt", "ddp.pt.ckpt"]  # and nothing half-written


def test_outside_a_process_group_the_helpers_describe_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.init()
    assert (ctx.rank, ctx.world_size) == (0, 1) and distributed.is_main() and not distributed.active()
    t = torch.tensor([2.0])
    assert distributed.all_reduce_sum(t) is t and t.item() == 2.0
    order = list(distributed.sampler(list(range(10)), seed=1))
    assert sorted(order) == list(range(10)) and order != list(range(10))
    with pytest.raises(ValueError, match="'seed'"):
        distributed.sampler(list(range(10)), seed=-1)


def test_closure_optimizers_are_refused_under_a_process_group(monkeypatch):
    monkeypatch.setattr(distributed, "active", lambda: True)
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="LBFGS needs a closure .* cannot run data-parallel"):
        Trainer(model, torch.nn.MSELoss(), torch.optim.LBFGS(model.parameters()), device="cpu")
