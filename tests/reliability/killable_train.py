"""``python killable_train.py STEP MARKER -- <audiocnn args>``: run ``audiocnn`` and, at training step
STEP (counted over the whole run), write MARKER and wait to be killed. The fault-injection tests
use it to stop a training run at a chosen point with SIGKILL (no clean-up of any kind). Each
process that reaches the step appends its PID to MARKER."""

import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    step, marker = int(sys.argv[1]), Path(sys.argv[2])
    args = sys.argv[4:] if sys.argv[3] == "--" else sys.argv[3:]

    from audiocnn.train.module import AudioClassifier

    real_step = AudioClassifier.training_step
    count = [0]

    def training_step(self, batch, batch_idx):
        count[0] += 1
        if count[0] == step:
            with open(marker, "a") as f:  # one line per process (DDP: every rank gets here)
                f.write(f"{os.getpid()}\n")
            time.sleep(120)  # the test kills the process here
        return real_step(self, batch, batch_idx)

    AudioClassifier.training_step = training_step
    from audiocnn.cli import main

    sys.exit(main(args))
