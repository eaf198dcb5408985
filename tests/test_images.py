import io

import numpy as np
import pytest
from PIL import Image

from core.data.images import open_image, prepare_image
from core.errors import ImageLoadError


@pytest.fixture
def glyph():
    """A real notMNIST-like glyph: a light 'L' on a dark background, 28x28."""
    img = np.zeros((28, 28), dtype=np.uint8)
    img[4:24, 8:12] = 230
    img[20:24, 8:20] = 230
    return img


def test_dataset_images_pass_through_unchanged(glyph):
    assert np.array_equal(prepare_image(Image.fromarray(glyph), 28), glyph)


def test_dark_on_light_is_inverted_in_auto_mode_only(glyph):
    paper = Image.fromarray(255 - glyph)
    assert np.array_equal(prepare_image(paper, 28, invert="auto"), glyph)
    assert np.array_equal(prepare_image(paper, 28, invert="never"), 255 - glyph)
    assert np.array_equal(prepare_image(Image.fromarray(glyph), 28, invert="auto"), glyph)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_the_same_grayscale(glyph, mode):
    base = Image.fromarray(glyph)
    if mode == "I;16":
        img = Image.fromarray(glyph.astype(np.uint16) * 257)  # 16-bit
    elif mode in ("I", "F"):
        img = base.convert(mode)
    else:
        img = base.convert(mode)
    out = prepare_image(img, 28, invert="auto")
    assert out.dtype == np.uint8 and out.shape == (28, 28)
    assert np.abs(out.astype(int) - glyph).max() <= 2


def test_transparent_canvas_with_white_strokes_keeps_the_strokes(glyph):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = glyph  # white ink, visible only where drawn
    out = prepare_image(Image.fromarray(rgba, "RGBA"), 28, invert="auto")
    assert out[10, 9] > 200 and out[2, 2] < 20


def test_large_and_non_square_images_are_padded_and_resized(glyph):
    big = Image.fromarray(glyph).resize((280, 280), Image.NEAREST)
    wide = Image.new("L", (560, 280))
    wide.paste(big, (140, 0))
    out = prepare_image(wide, 28)
    assert out.shape == (28, 28)
    assert out[:7].max() < 10 and out[7:21].max() > 200  # letter centred, padding above and below


def test_bad_files_give_one_line_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    png = io.BytesIO()
    Image.new("L", (64, 64), 128).save(png, format="PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(png.getvalue()[:40])
    for path, pattern in [(text, "not an image"), (truncated, "cut.png"), (tmp_path / "missing.png", "no such file")]:
        with pytest.raises(ImageLoadError, match=pattern) as err:
            open_image(path)
        assert "\n" not in str(err.value)


def test_animated_images_use_the_first_frame():
    frames = [Image.new("L", (20, 20), v) for v in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    img = open_image(buf.getvalue())
    assert np.asarray(img.convert("L")).mean() < 50


def test_user_drawings_are_cropped_to_the_letter(glyph):
    canvas = np.zeros((280, 280), dtype=np.uint8)
    canvas[100:180, 120:150] = 255  # a small stroke in the middle of a big pad
    cropped = prepare_image(Image.fromarray(canvas), 28, invert="auto", crop=True)
    uncropped = prepare_image(Image.fromarray(canvas), 28, invert="auto")
    assert (cropped > 128).sum() > 4 * (uncropped > 128).sum()  # the letter fills the frame, like notMNIST
    blank = prepare_image(Image.new("L", (100, 100)), 28, crop=True)
    assert blank.shape == (28, 28) and blank.max() == 0


def test_the_letter_model_doubts_photos_and_blanks_but_not_real_letters(notmnist_data):
    from skimage import data as skimage_data

    from core.inference.letters import LetterClassifier
    from tests.conftest import ROOT

    clf = LetterClassifier(ROOT / "checkpoints" / "notmnist" / "cnn-original-s1")
    letters = list(notmnist_data["test"].images[:500, 0].numpy())
    doubts = [clf.doubt(a, p) for a, p in zip(letters, clf.predict_arrays(letters))]
    assert sum(d is None for d in doubts) >= 0.9 * len(letters)  # real letters: mostly no warning
    photo = clf.prepare(Image.fromarray(skimage_data.astronaut()))
    assert "photo" in clf.doubt(photo, clf.predict_arrays([photo])[0])
    blank = clf.prepare(Image.new("L", (100, 100), 255))
    assert "empty" in clf.doubt(blank, clf.predict_arrays([blank])[0])
