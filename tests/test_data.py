import numpy as np
import pytest
import torch
from PIL import Image

from core.data import notmnist
from core.data.cache import load_split
from core.data.sources import unseen_mask
from core.errors import DataSourceError


def test_real_splits_decode_to_uint8_tensors(notmnist_data):
    train, test = notmnist_data["train"], notmnist_data["test"]
    assert train.images.shape == (14979, 1, 28, 28) and test.images.shape == (3745, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert set(train.labels.unique().tolist()) == set(range(10))
    # Stratified split: every letter has 1,497 or 1,498 training images (see the data README).
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.min() >= 1497 and counts.max() <= 1498
    assert 60 < train.images.float().mean() < 160  # real glyphs, neither blank nor saturated


def test_second_load_comes_from_the_disk_cache(notmnist_dir, notmnist_data, monkeypatch):
    import core.data.cache

    def no_decoding(*args):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(core.data.cache, "read_split", no_decoding)
    again = load_split(notmnist.SPEC, str(notmnist_dir), "test")
    assert torch.equal(again.images, notmnist_data["test"].images)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_cache_file_is_deleted_and_rebuilt(tmp_path, monkeypatch, caplog, damage):
    from core.data.cache import cache_path

    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    good = load_split(notmnist.SPEC, "bundled", "test")
    path = cache_path(good.source, "test", 28)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:-10], "garbage": b"x" * len(data), "empty": b""}[damage])
    with caplog.at_level("WARNING", logger="core.data.cache"):
        again = load_split(notmnist.SPEC, "bundled", "test")
    assert torch.equal(again.images, good.images) and torch.equal(again.labels, good.labels)
    notices = [r.getMessage() for r in caplog.records if r.name == "core.data.cache"]
    assert len(notices) == 1 and "damaged" in notices[0] and "\n" not in notices[0]
    assert path.read_bytes() == data  # rebuilt, byte for byte


def test_duplicates_shared_by_train_and_test_are_found(notmnist_data):
    train, test = notmnist_data["train"], notmnist_data["test"]
    mask = unseen_mask(test, train)
    # The data README: 55 distinct images occur in both splits; some of them several times in test.
    shared = int((~mask).sum())
    assert 55 <= shared < 200
    distinct_shared = {bytes(r) for r in test.images[~mask].reshape(shared, -1).numpy()}
    assert len(distinct_shared) == 55


def write_letter_folder(root, per_letter=6, letters="ABCDEFGHIJ"):
    rng = np.random.default_rng(0)
    for letter in letters:
        (root / letter.lower()).mkdir(parents=True)  # folder names in any case
        for i in range(per_letter):
            Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(root / letter.lower() / f"{i}.png")


def test_image_folder_source_maps_folder_names_and_carves_a_test_split(tmp_path):
    write_letter_folder(tmp_path)
    train = load_split(notmnist.SPEC, str(tmp_path), "train")
    test = load_split(notmnist.SPEC, str(tmp_path), "test")
    assert train.images.shape[1:] == (1, 28, 28)  # resized from 40x30
    assert len(test) == 12 and len(train) == 48  # folder without test/: 20 % held out, stratified
    assert sorted(torch.bincount(test.labels, minlength=10).tolist()) == [1] * 8 + [2] * 2


def test_bundled_sample_loads_offline():
    sample = load_split(notmnist.SPEC, "bundled", "test")
    assert len(sample) == 200
    assert torch.bincount(sample.labels).tolist() == [20] * 10


def test_unknown_class_folder_is_a_clear_error(tmp_path):
    write_letter_folder(tmp_path, per_letter=2, letters="AZ")
    with pytest.raises(DataSourceError, match="'z' is not one of A, B"):
        load_split(notmnist.SPEC, str(tmp_path), "train")


def test_unreachable_hub_says_so_and_names_the_variable(monkeypatch):
    import core.data.sources

    monkeypatch.setattr(core.data.sources, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(DataSourceError, match="NOTMNIST_DATA") as err:
        load_split(notmnist.SPEC, "someone/not-cached-dataset", "train")
    assert "hub" in str(err.value) and "\n" not in str(err.value)
