"""Thread settings for serving: many small forward passes (video frames, one face each) on a machine whose
cores other work also wants (a training job, other sessions).

OpenMP's default is to spin-wait for work, so when another process holds the cores torch's threads burn their
time slices waiting for each other: one training job beside the webcam dropped it from 24 to 6 frames/s.
Passive waiting and one intra-op thread per forward pass keep a frame's cost steady under load; a single face at
96 px gains nothing from a second thread (measured: benchmarks/webcam_latency.py).
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"


def configure_serving(threads: int = 1) -> None:
    """Call once, as early as possible: the wait policy takes effect only if torch has not loaded OpenMP yet
    (the app sets it before any page imports torch; child processes such as training jobs inherit it)."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY, "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work has started: keep what there is
        pass
