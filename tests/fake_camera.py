"""A Y4M video of a real face for Chromium's fake camera (--use-file-for-fake-video-capture)."""

from pathlib import Path

import cv2
import numpy as np


def face_frame(width: int = 640, height: int = 480, dx: int = 0, dy: int = 0) -> np.ndarray:
    """skimage's astronaut photo (a real face) on a gray 640x480 BGR frame, shifted by (dx, dy)."""
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # 512 x 512
    frame = np.full((height, width, 3), 90, dtype=np.uint8)
    top, left = (height - 448) // 2 + dy, (width - 448) // 2 + dx
    frame[top : top + 448, left : left + 448] = cv2.resize(photo, (448, 448), interpolation=cv2.INTER_AREA)
    return frame


def write_y4m(path: Path, seconds: float = 4.0, fps: int = 15) -> Path:
    """Chromium loops the file; frames jitter a little so the face moves like a person's would."""
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F%d:1 Ip A1:1 C420jpeg\n" % fps)
        rng = np.random.default_rng(0)
        for _ in range(int(seconds * fps)):
            dx, dy = (int(v) for v in rng.integers(-6, 7, size=2))
            out.write(b"FRAME\n" + cv2.cvtColor(face_frame(dx=dx, dy=dy), cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
