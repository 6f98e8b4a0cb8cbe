"""The killed process of tests/test_rl_resume.py: ``python rl_resume_worker.py TRAINER CHECKPOINT``
trains ``RUNS[TRAINER]`` of that test, checkpointing to CHECKPOINT, and kills itself with SIGKILL (no
cleanup, as an out-of-memory kill or a pulled plug) at the chosen environment step after the chosen
checkpoint: mid-rollout, mid-episode, before the next checkpoint."""
import os
import signal
import sys

import torch
from gymnasium.vector import SyncVectorEnv

import neuroai.rl.common as common
from test_rl_resume import RUNS

if __name__ == "__main__":
    trainer, path = sys.argv[1:]
    torch.set_num_threads(1)  # as the test's process (its fixture one_thread)
    run, checkpoints, steps, _ = RUNS[trainer]
    seen = {"checkpoints": 0, "steps": 0}
    save, step = common.save_checkpoint, SyncVectorEnv.step

    def counted_save(state, target):
        save(state, target)
        seen["checkpoints"] += 1

    def step_or_die(self, actions):
        if seen["checkpoints"] == checkpoints:
            seen["steps"] += 1
            if seen["steps"] > steps:
                os.kill(os.getpid(), signal.SIGKILL)
        return step(self, actions)

    common.save_checkpoint, SyncVectorEnv.step = counted_save, step_or_die
    run(path)
    sys.exit(f"rl_resume_worker: the {trainer} run ended without being killed")
