"""The detector-in-the-loop evaluation on real FER-2013 faces: a face framed by the detector as FER frames it is
read about as well as the crop itself, and the old wider crop measurably worse."""

import pytest

from core.cli import main
from core.inference.emotions import FRAMING, EmotionDetector
from core.study.in_frames import in_frame_evaluation
from tests.test_calibration import BEST_FER

pytestmark = pytest.mark.slow


def test_the_crop_matches_fer_framing_and_costs_little(fer_data):
    split = fer_data["validation"]
    matched = in_frame_evaluation(EmotionDetector(BEST_FER), split, 400)
    wide = in_frame_evaluation(EmotionDetector(BEST_FER, margin=1.2), split, 400)
    assert matched["detected"] > 0.55  # Haar finds most of FER's faces (not all: many are turned or tilted)
    assert matched["framing"]["margin"] == FRAMING["margin"]
    assert abs(matched["framing"]["fer_side_over_box"] - FRAMING["margin"]) < 0.05  # the crop is FER's framing
    assert matched["gap_points"] < 6 and wide["gap_points"] > matched["gap_points"] + 3


def test_in_frames_command(capsys):
    assert main(["evaluate", str(BEST_FER), "--split", "validation", "--in-frames", "40", "--json"]) == 0
    assert '"in_frame_accuracy_detected"' in capsys.readouterr().out
    assert main(["evaluate", str(BEST_FER), "--in-frames", "0"]) == 2
    assert "--in-frames must be at least 1 face" in capsys.readouterr().err
