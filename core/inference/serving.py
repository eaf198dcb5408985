"""Thread settings for serving: many small forward passes (video frames, one face each) on a machine whose
cores other work also wants (a training job, other sessions).

OpenMP's default is to spin-wait for work, so when another process holds the cores torch's threads burn their
time slices waiting for each other: one training job beside the webcam dropped it from 24 to 6 frames/s.
Passive waiting and one intra-op thread per forward pass keep a frame's cost steady under load; a single face
gains nothing from a second thread (benchmarks/webcam_latency.py). Training jobs the app starts keep OpenMP's own
default, which trains 6-14 % faster here.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "OMP_WAIT_POLICY"
_SET_HERE = "STUDY_SERVING_WAIT_POLICY"  # marks a wait policy this module set (not the user)


def serving_environment() -> None:
    """Passive OpenMP waits for this process. Takes effect only before torch loads OpenMP, so the app calls it
    first thing; a policy the user set is kept."""
    if WAIT_POLICY not in os.environ and "torch" not in sys.modules:
        os.environ[WAIT_POLICY] = "PASSIVE"
        os.environ[_SET_HERE] = "1"


def job_environment() -> dict[str, str]:
    """The environment for a training process started by the server: without the serving wait policy."""
    env = dict(os.environ)
    if env.pop(_SET_HERE, None):
        env.pop(WAIT_POLICY, None)
    return env


def configure_serving(threads: int = 1) -> None:
    """The serving settings: passive waits (if still possible), `threads` intra-op threads, one inter-op thread."""
    serving_environment()
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work has started: keep what there is
        pass
