"""Face finding and emotion reading on real photos; smoothing; bad inputs; the video callback."""

import io

import av
import numpy as np
import pytest
from PIL import Image

from core.data.images import open_image, to_rgb_array
from core.errors import ImageLoadError
from core.inference.emotions import BOX_COLOUR, LOW_COLOUR, EmotionDetector, draw_faces
from core.inference.faces import FaceTracker, iou, square_box
from tests.fake_camera import face_frame

pytestmark = pytest.mark.slow  # real training, full splits or subprocesses; `make test-fast` skips them

skimage_data = pytest.importorskip("skimage.data")


def box_pixels(bgr: np.ndarray) -> int:
    """Pixels in either box colour (sure or unsure)."""
    return int((np.all(bgr == BOX_COLOUR, axis=2) | np.all(bgr == LOW_COLOUR, axis=2)).sum())


@pytest.fixture(scope="module")
def detector(emotion_checkpoint):
    return EmotionDetector(emotion_checkpoint)


def test_finds_the_face_in_real_photos_and_none_in_a_blank_frame(detector):
    faces = detector.detect(skimage_data.astronaut(), order="rgb")
    assert len(faces) >= 1  # Haar occasionally adds a false second face
    x, y, w, h = max(faces, key=lambda f: f.box[2]).box
    assert 150 <= x + w / 2 <= 300 and 60 <= y + h / 2 <= 200  # her face, in the upper middle
    assert abs(sum(faces[0].probabilities.values()) - 1) < 1e-4 and faces[0].label in detector.classes
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert len(detector.detect(face_frame())) >= 1  # the fake camera's frame (BGR)


def test_boxes_are_square_with_margin_and_clipped_to_the_frame():
    assert square_box((100, 100, 50, 40), (480, 640), margin=1.2) == (95, 90, 60, 60)
    x, y, w, h = square_box((600, 440, 60, 60), (480, 640), margin=1.2)
    assert x + w <= 640 and y + h <= 480 and x >= 0 and y >= 0
    x, y, w, h = square_box((-5, -5, 40, 40), (480, 640))
    assert (x, y) == (0, 0)


def test_smoothing_follows_each_face_and_damps_flicker():
    tracker = FaceTracker(alpha=0.5)
    happy, sad = np.eye(7)[3], np.eye(7)[5]
    (a, pa), (b, pb) = tracker.update([(0, 0, 50, 50), (300, 0, 50, 50)], np.stack([happy, sad]))
    (a2, pa2), (b2, pb2) = tracker.update([(305, 2, 50, 50), (3, 1, 50, 50)], np.stack([happy, happy]))
    assert (a2, b2) == (b, a)  # matched by overlap, not by order
    assert pb2[3] == 1.0 and pa2[3] == pytest.approx(0.5) and pa2[5] == pytest.approx(0.5)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    for _ in range(7):
        tracker.update([], np.zeros((0, 7)))
    assert tracker.tracks == {}  # faces gone for long enough are forgotten


def test_low_confidence_state(emotion_checkpoint):
    unsure = EmotionDetector(emotion_checkpoint, threshold=1.01)
    faces = unsure.detect(skimage_data.astronaut(), order="rgb")
    assert faces and all(f.low_confidence for f in faces)


def test_drawing_marks_faces_and_says_when_there_is_none(detector):
    frame = face_frame()
    faces = detector.detect(frame)
    drawn = draw_faces(frame, faces)
    assert box_pixels(drawn) > 100 and not np.array_equal(drawn, frame)
    blank = np.zeros((480, 640, 3), np.uint8)
    assert draw_faces(blank, []).sum() > 0  # "no face found" is written on the image


@pytest.mark.parametrize("make", ["text", "truncated", "huge", "cmyk", "16bit", "rgba", "animated"])
def test_bad_or_unusual_uploads(make, detector, tmp_path):
    photo = Image.fromarray(skimage_data.astronaut())
    buf = io.BytesIO()
    if make == "text":
        data = b"not an image at all"
    elif make == "truncated":
        photo.save(buf, format="JPEG")
        data = buf.getvalue()[:2000]
    elif make == "huge":
        Image.new("L", (10_000, 10_000)).save(buf, format="PNG")
        data = buf.getvalue()
    elif make == "cmyk":
        photo.convert("CMYK").save(buf, format="JPEG")
        data = buf.getvalue()
    elif make == "16bit":
        Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257).save(buf, format="PNG")
        data = buf.getvalue()
    elif make == "rgba":
        photo.convert("RGBA").save(buf, format="PNG")
        data = buf.getvalue()
    else:
        frames = [photo, photo.rotate(90)]
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
        data = buf.getvalue()
    if make in ("text", "truncated", "huge"):
        with pytest.raises(ImageLoadError) as err:
            open_image(data, name="upload.jpg")
        assert "\n" not in str(err.value) and "upload.jpg" in str(err.value)
        return
    rgb = to_rgb_array(open_image(data, name="upload"))
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3)
    assert len(detector.detect(rgb, order="rgb")) >= 1


def test_video_frame_callback_on_synthetic_frames(emotion_checkpoint):
    """The webcam page's own callback, fed av.VideoFrames as streamlit-webrtc does, returns annotated frames and
    sends each frame's reading through the queue (the newest few kept)."""
    import queue

    from ui.webcam_video import make_frame_callback

    results: queue.Queue = queue.Queue(maxsize=2)
    callback = make_frame_callback(EmotionDetector(emotion_checkpoint), results)
    outs = [callback(av.VideoFrame.from_ndarray(face_frame(dx=d), format="bgr24")) for d in (0, 4, 8)]
    items = [results.get_nowait() for _ in range(results.qsize())]
    assert len(items) == 2 and items[0]["time"] <= items[1]["time"]  # the oldest reading was dropped
    assert all(len(item["faces"]) >= 1 and item["ms"] > 0 for item in items)
    arr = outs[-1].to_ndarray(format="bgr24")
    assert arr.shape == (480, 640, 3) and box_pixels(arr) > 100


def test_the_video_callback_draws_the_grad_cam_overlay_when_it_is_switched_on(emotion_checkpoint):
    import queue

    from ui.webcam_video import face_cam, make_frame_callback

    detector = EmotionDetector(emotion_checkpoint)
    overlay: dict = {}
    callback = make_frame_callback(detector, queue.Queue(maxsize=2), overlay)
    frame = av.VideoFrame.from_ndarray(face_frame(), format="bgr24")
    plain = callback(frame).to_ndarray(format="bgr24")
    overlay["cam"] = face_cam(detector)  # the page's switch, read by the video thread on the next frame
    with_map = callback(frame).to_ndarray(format="bgr24")
    x, y, w, h = detector.process(face_frame())[0].box
    inside = np.abs(with_map.astype(int) - plain.astype(int))[y + 8 : y + h - 8, x + 8 : x + w - 8]
    assert inside.mean() > 10 and box_pixels(with_map) > 100  # the map is in the box, the box still drawn


def test_a_bad_ice_server_setting_is_one_warning_and_no_servers(monkeypatch, caplog):
    from ui.webcam_video import rtc_configuration

    monkeypatch.setenv("WEBRTC_ICE_SERVERS", "[{'urls': not json")
    assert rtc_configuration() == {"iceServers": []}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "ui.webcam_video"]
    assert len(warnings) == 1 and "WEBRTC_ICE_SERVERS is not JSON" in warnings[0] and "\n" not in warnings[0]
    monkeypatch.setenv("WEBRTC_ICE_SERVERS", '[{"urls": ["turn:turn.example.org:3478"]}]')
    assert rtc_configuration() == {"iceServers": [{"urls": ["turn:turn.example.org:3478"]}]}


def test_tracker_keeps_one_face_across_moving_frames(emotion_checkpoint):
    detector = EmotionDetector(emotion_checkpoint)
    faces = [detector.process(face_frame(dx=d)) for d in (0, 4, 8)]
    assert all(len(f) >= 1 for f in faces)
    assert faces[0][0].track_id == faces[2][0].track_id  # the same face across frames


def test_the_shipped_default_emotion_model(fer_dir):
    """The webcam page's default model, re-evaluated on the real test split, and a smile read as happy."""
    import json
    import subprocess
    import sys

    from core.runs.index import best_first, find_runs
    from tests.conftest import ROOT

    shipped = best_first(find_runs(ROOT / "checkpoints", task="fer", loadable=True))
    assert shipped, "no emotion model with weights is shipped under checkpoints/"
    path = shipped[0].path
    out = subprocess.run(
        [sys.executable, "-m", "core", "evaluate", str(path), "--data", str(fer_dir), "--json", "--precision", "fp32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    result = json.loads(out)
    assert result["n"] == 3589 and result["accuracy"] >= 0.58
    assert result["ci_low"] < result["accuracy"] < result["ci_high"]
    unseen = result["unseen"]  # the 288 test faces that also occur in train are left out
    assert unseen["n"] == 3589 - 288 and unseen["ci_low"] < unseen["accuracy"] < unseen["ci_high"]
    # as recorded: at most 2 faces differ (fp32 here, every CPU has it; the record's figure is in the precision the
    # run trained in, bf16 on some Xeons). 2.5, not 2: exactly two faces is 2/3301 up to float rounding.
    assert unseen["accuracy"] == pytest.approx(shipped[0].test.unseen.accuracy, abs=2.5 / 3301)
    faces = EmotionDetector(path).detect(skimage_data.astronaut(), order="rgb")
    assert max(faces, key=lambda f: f.box[2]).label == "happy"


def test_a_picture_that_is_one_face_is_framed_without_its_padding(fer_dir):
    """A FER-2013 test face as it is, enlarged, and padded onto larger canvases (gray, black, white, not square):
    taken as one face, framed to the face itself; a photo with a face in a scene is not taken as one face."""
    from core.inference.faces import looks_like_one_face, picture_content, whole_face_box

    face = fer_face(fer_dir)
    assert picture_content(face) == (0, 0, 48, 48) and whole_face_box(face) == (0, 0, 48, 48)
    assert looks_like_one_face(face) and looks_like_one_face(np.asarray(Image.fromarray(face).resize((240, 240))))
    for colour, size in [(128, (480, 480)), (0, (480, 480)), (255, (640, 480))]:
        canvas = np.full(size[::-1], colour, np.uint8)
        canvas[200:248, 300:348] = face
        assert whole_face_box(canvas) == (300, 200, 48, 48), colour
        assert looks_like_one_face(canvas), colour
    wide = np.repeat(face, 2, axis=1)  # 96 x 48: the central square
    assert whole_face_box(wide) == (24, 0, 48, 48) and not looks_like_one_face(wide)
    assert not looks_like_one_face(to_gray_rgb(skimage_data.astronaut())) and not looks_like_one_face(
        to_gray_rgb(face_frame()[..., ::-1])
    )


def test_a_one_face_picture_reads_as_its_face_does(detector, fer_dir):
    """classify_face_image (predict --no-detect, the Live page's one-face mode): a padded face reads exactly as the
    face alone, and the face alone as the training pipeline's crop."""
    face = fer_face(fer_dir)
    alone = detector.classify_face_image(np.repeat(face[..., None], 3, axis=2))
    canvas = np.full((480, 480), 128, np.uint8)
    canvas[216:264, 216:264] = face
    padded = detector.classify_face_image(Image.fromarray(canvas))
    assert alone.box == (0, 0, 48, 48) and padded.box == (216, 216, 48, 48)
    assert padded.probabilities == pytest.approx(alone.probabilities, abs=1e-6)
    assert alone.probabilities == pytest.approx(dict(zip(detector.classes, detector.classify([face])[0])), abs=1e-6)


def fer_face(fer_dir, index: int = 0) -> np.ndarray:
    """A real FER-2013 test face, 48 x 48 gray, from the dataset's parquet file."""
    import pyarrow.parquet as pq

    table = pq.read_table(next((fer_dir / "data").glob("test-*.parquet")))
    row = table.slice(index, 1).to_pylist()[0]
    return np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("L"))


def to_gray_rgb(rgb: np.ndarray) -> np.ndarray:
    from core.inference.faces import to_gray

    return to_gray(np.ascontiguousarray(rgb), "rgb")
