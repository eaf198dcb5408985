"""The Live page's on-device mode reads faces exactly as the server does: its JavaScript (ui/live_device/frontend,
run here in Node with the same opencv.js and ONNX Runtime Web the browser loads) against the server's Python
pipeline, on real faces: Pillow's resampling bit for bit, and whole frames (detection, following, crops, the
model, calibration, smoothing) face for face."""

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config import Experiment
from core.data.images import fit_square
from core.data.transforms import FaceTransform, crop_margin
from core.inference import on_device
from core.inference.emotions import EmotionDetector
from core.inference.faces import square_box, to_gray
from tests.fake_camera import face_frame

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "ui" / "live_device" / "frontend"
# the webcam default; it sees the centre of each face (--eval-crop 0.95), so the browser's crop is checked too
DEFAULT = ROOT / "checkpoints" / "beyond" / "fer" / "mobilenet_v2-tuned-ferplus-votes-96px-s3"


def node(script: str, job: dict) -> object:
    if shutil.which("node") is None or not (FRONTEND / "node_modules").is_dir():
        pytest.skip("Node or the frontend's packages are missing (make frontend installs them)")
    out = subprocess.run(["node", script], input=json.dumps(job), capture_output=True, text=True, cwd=FRONTEND,
                         timeout=600, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_the_browsers_resampling_crops_and_model_input_are_the_servers(fer_data):
    """Real faces (and random pixels) of every size and shape fitted to 48 x 48 as Pillow does it, Python's
    rounding, and the square crop around a face: the same numbers, not close ones; and the model's input made from
    a face (its centre crop, mirrored or not, enlarged) the same as torch's within float rounding."""
    rng = np.random.default_rng(0)
    faces = fer_data["test"].images[:, 0].numpy()
    grays = []
    for i in range(40):
        w = int(rng.integers(20, 300))
        h = w if i % 3 else int(rng.integers(20, 300))
        face = faces[i]
        grays.append(np.asarray(Image.fromarray(face).resize((w, h))))
    grays += [rng.integers(0, 256, size=(int(rng.integers(5, 90)),) * 2, dtype=np.uint8) for _ in range(10)]
    boxes = [[int(v) for v in rng.integers((0, 0, 20, 20), (600, 440, 300, 300))] for _ in range(300)]
    halves = [0.5, 1.5, 2.5, -0.5, -1.5, 3.49, 3.51]
    job = {
        "fit": [{"gray": g.ravel().tolist(), "w": g.shape[1], "h": g.shape[0], "size": 48} for g in grays],
        "round": halves,
        "square": [{"box": b, "frameH": 480, "frameW": 640, "margin": 1.03, "shiftY": 0.0} for b in boxes],
    }
    # the model's input: the centre crop of a face (or of its mirror image) enlarged as torch enlarges it
    inputs = [(faces[40 + k], size, mirrored, crop) for k, (size, mirrored, crop) in enumerate(
        (s, m, c) for s in (48, 96, 112) for m in (False, True) for c in (1.0, 0.95, 0.9, 0.77))]  # fmt: skip
    job["input"] = [{"face": f.ravel().tolist(), "decoded": 48, "size": s, "mirrored": m,
                     "margin": crop_margin(48, c)} for f, s, m, c in inputs]  # fmt: skip
    out = node("test/preprocess_cli.mjs", job)
    for (face, size, mirrored, crop), js in zip(inputs, out["input"], strict=True):
        batch = torch.from_numpy(face)[None, None]
        torch_input = FaceTransform(Experiment(task="fer", img_size=size, eval_crop=crop)).eval(
            batch.flip(-1) if mirrored else batch
        )  # the server flips the whole face, then its transform crops and resizes
        assert np.abs(torch_input.numpy().ravel() - np.array(js)).max() < 1e-5, (size, mirrored, crop)
    assert all(fit_square(g, 48).ravel().tolist() == js for g, js in zip(grays, out["fit"]))
    assert out["round"] == [round(v) for v in halves]
    assert out["square"] == [list(square_box(tuple(b), (480, 640), 1.03, 0.0)) for b in boxes]


def frames_with_faces(fer_data) -> list[np.ndarray]:
    """A moving real face (the fake camera's), then FER-2013 test faces pasted into frames as the in-frames
    evaluation pastes them."""
    from core.study.in_frames import paste

    rng = np.random.default_rng(0)
    moving = [to_gray(face_frame(dx=int(rng.integers(-6, 7)), dy=int(rng.integers(-6, 7))), "bgr") for _ in range(9)]
    faces = fer_data["test"].images[:60, 0].numpy()
    return moving + [paste(face, rng)[0] for face in faces]


@pytest.mark.slow
def test_the_browsers_pipeline_reads_every_frame_as_the_server_does(fer_data):
    detector = EmotionDetector(DEFAULT)
    assert on_device.settings(detector)["crop_margin"] == 1  # 0.95 of 48 pixels: one off each edge
    model = on_device.model_file(detector)
    assert model is not None and model.is_file()
    frames = frames_with_faces(fer_data)
    job = {"model": str(model), "cascade": str(on_device.cascade_file()), "settings": on_device.settings(detector),
           "frames": [{"w": f.shape[1], "h": f.shape[0], "gray": base64.b64encode(f.tobytes()).decode()}
                      for f in frames]}  # fmt: skip
    browser = node("test/parity_cli.mjs", job)
    server = detector.for_session()
    faces, labels_agree, largest = 0, 0, 0.0
    for frame, seen in zip(frames, browser):
        # the same faces found (the cascade may list them in another order)
        expected = sorted(server.process(frame), key=lambda f: f.box)
        order = sorted(range(len(seen["faces"])), key=lambda i: seen["faces"][i]["box"])
        assert [list(f.box) for f in expected] == [seen["faces"][i]["box"] for i in order]
        for f, i in zip(expected, order):
            g, crop = seen["faces"][i], seen["crops"][i]
            # the same crop, and the server's own model on it: the browser's raw probabilities within 1e-3
            mine = np.array(crop["face"], dtype=np.uint8).reshape(48, 48)
            x, y, w, h = crop["box"]
            assert np.array_equal(mine, server.prepare(frame[y : y + h, x : x + w]))
            largest = max(largest, float(np.abs(server.classify([mine])[0] - np.array(crop["probs"])).max()))
            faces += 1
            labels_agree += f.label == g["label"]
    assert faces >= 40, faces
    assert largest <= 1e-3, largest
    assert labels_agree / faces >= 0.99
