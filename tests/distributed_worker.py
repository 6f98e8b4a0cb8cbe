"""One process of the data-parallel equivalence test (tests/test_distributed.py):
``torchrun --standalone --nproc_per_node K tests/distributed_worker.py OUT``
trains a small MLP with global batch 32 split over the K processes; rank 0
saves the trained weights, the history and the world size to OUT."""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroai.training import Checkpoint, Trainer, distributed

GLOBAL_BATCH, EPOCHS = 32, 3


def train(checkpoint=None) -> tuple[dict, list[dict]]:
    """Train on 256 seeded samples; returns (state_dict, history)."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g, dtype=torch.float64)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    data = TensorDataset(x, y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    loader = DataLoader(data, batch_size=GLOBAL_BATCH // distributed.world_size(),
                        sampler=distributed.sampler(data, seed=3))
    callbacks = [] if checkpoint is None else [Checkpoint(checkpoint)]
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
                      metrics=["accuracy"], device="cpu", progress=False, callbacks=callbacks)
    history = trainer.fit(loader, DataLoader(data, batch_size=64), epochs=EPOCHS)
    return model.state_dict(), history


if __name__ == "__main__":
    ctx = distributed.init()
    state, history = train(checkpoint=sys.argv[1] + ".ckpt")
    if ctx.rank == 0:
        torch.save({"state": state, "history": history, "world_size": ctx.world_size}, sys.argv[1])
    distributed.shutdown()
