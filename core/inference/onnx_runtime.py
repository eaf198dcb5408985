"""ONNX Runtime for a loaded checkpoint's forward pass.

For one face at a time (the webcam), ONNX Runtime runs the 96-px MobileNetV2 in about 2 ms where PyTorch takes
about 10 (channels-last fp32) on the same thread, with the same predictions on FER-2013 test
(benchmarks/inference_backends.py). The model is exported once per weights file and kept in the cache folder;
anything that goes wrong (no onnxruntime, an export error) leaves the caller on PyTorch, with one log line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.cache import cache_dir
from ..runs.files import TORCH_WEIGHTS_FILE, WEIGHTS_FILE
from ..runs.record import RunRecord

log = logging.getLogger(__name__)

OPSET = 17


def _export_path(record: RunRecord) -> Path:
    folder = Path(record.path or ".")
    digest = record.weights_sha256
    if not digest:
        weights = next((folder / n for n in (WEIGHTS_FILE, TORCH_WEIGHTS_FILE) if (folder / n).is_file()), None)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest() if weights else "unknown"
    key = f"{digest}-{record.config.arch}-{record.config.image_size}-{torch.__version__}-{OPSET}"
    return cache_dir() / "onnx" / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.onnx"


class OnnxForward:
    """`forward(x)`: logits for a float batch N x 1 x S x S, like the PyTorch model's."""

    def __init__(self, model: nn.Module, record: RunRecord, threads: int = 1):
        import onnxruntime as ort

        self.path = path = _export_path(record)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            size = record.config.image_size
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".onnx")
            os.close(fd)
            partial = Path(name)  # one per process: two exporting at once never share a file
            torch.onnx.export(model.eval(), (torch.rand(1, 1, size, size),), str(partial), input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {0: "n"}}, opset_version=OPSET,
                              dynamo=False)  # fmt: skip
            partial.replace(path)  # a reader never sees half an export
            log.info("exported %s to ONNX (%s)", record.name, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"x": np.ascontiguousarray(x.numpy(), dtype=np.float32)})[0]
        return torch.from_numpy(out)


def onnx_forward(model: nn.Module, record: RunRecord, threads: int = 1) -> OnnxForward | None:
    """ONNX Runtime for this model, or None (no onnxruntime here, or the export failed: PyTorch it is)."""
    try:
        return OnnxForward(model, record, threads)
    except ImportError:
        log.info("onnxruntime is not installed; the emotion model runs in PyTorch")
    except Exception as exc:  # noqa: BLE001 - any exporter/runtime failure must leave the caller on PyTorch
        log.warning("ONNX export of %s failed (%s); running in PyTorch", record.name, exc)
    return None
