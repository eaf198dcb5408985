import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one thread each (and in the processes they start), or their OpenMP threads fight
    # over the cores and every step waits on the others' spinning.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from core.engine.callbacks import Callback  # noqa: E402  (torch reads OMP_NUM_THREADS when it loads)

NOTMNIST_DIR = Path(os.environ.get("NOTMNIST_TEST_DATA", ROOT.parent / "shared" / "data" / "notmnist"))


class StopAfter(Callback):
    """Simulates killing a run: stops it after `epoch` (its state is saved by then)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, record):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def slices(splits: dict, train: int, others: int) -> dict:
    """The first images of each split (the shared data is shuffled, so prefixes mix classes)."""
    return {name: split.head(train if name == "train" else others) for name, split in splits.items()}


def shared_dir(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (the session's temp root without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def built_once(path: Path) -> Iterator[bool]:
    """One worker at a time: yields True to the first to get here (it builds `path`), False to the others (it is
    built by then)."""
    with FileLock(str(path) + ".lock"):
        yield not path.exists()


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests decode data into their own cache (shared by the run's workers), so they exercise the decoder and never
    see a stale cache."""
    cache = shared_dir(tmp_path_factory) / "cache"
    cache.mkdir(exist_ok=True)
    os.environ["STUDY_CACHE_DIR"] = str(cache)
    os.environ.pop("NOTMNIST_DATA", None)
    yield


@pytest.fixture(scope="session")
def notmnist_dir() -> Path:
    if not (NOTMNIST_DIR / "data").is_dir():
        pytest.skip(f"real notMNIST data not found at {NOTMNIST_DIR} (set NOTMNIST_TEST_DATA)")
    return NOTMNIST_DIR


@pytest.fixture(scope="session")
def notmnist_data(tmp_path_factory, notmnist_dir):
    """{"train", "test"} of the real data, full splits."""
    from core.config import Experiment
    from core.engine.loop import load_data

    with built_once(shared_dir(tmp_path_factory) / "notmnist-decoded"):  # one worker decodes, the other reads
        return load_data(Experiment(data=str(notmnist_dir)))


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory, notmnist_dir, notmnist_data):
    """A CNN trained for one epoch on 3,000 real images (a few seconds), saved as a checkpoint."""
    from core.config import Experiment
    from core.engine.loop import run_experiment
    from core.runs.checkpoint import load_checkpoint

    out = shared_dir(tmp_path_factory) / "small-cnn"
    with built_once(out) as first:
        if first:  # trained once for all workers
            config = Experiment(model="cnn", epochs=1, data=str(notmnist_dir), train_limit=3000, test_limit=1000)
            run_experiment(config, out, data=slices(notmnist_data, 3000, 1000))
    model, meta = load_checkpoint(out)
    return out, model, meta


FER_DIR = Path(os.environ.get("FER_TEST_DATA", ROOT.parent / "shared" / "data" / "fer"))
WEIGHTS_DIR = ROOT.parent / "shared" / "weights"


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    if not (FER_DIR / "data").is_dir():
        pytest.skip(f"real FER-2013 data not found at {FER_DIR} (set FER_TEST_DATA)")
    return FER_DIR


@pytest.fixture(scope="session")
def fer_data(tmp_path_factory, fer_dir):
    """All three real FER-2013 splits (decoded once into the test cache)."""
    from core.config import Experiment
    from core.engine.loop import load_data

    with built_once(shared_dir(tmp_path_factory) / "fer-decoded"):  # one worker decodes, the other reads
        return load_data(Experiment(task="fer", data=str(fer_dir)))


@pytest.fixture
def imagenet_mobilenet(tmp_path, monkeypatch):
    """A TORCH_HOME holding torchvision's MobileNetV2 ImageNet file, as after a download."""
    source = WEIGHTS_DIR / "mobilenet_v2-b0353104.pth"
    if not source.is_file():
        pytest.skip(f"MobileNetV2 ImageNet weights not found at {source}")
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / source.name).symlink_to(source)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return source


@pytest.fixture(scope="session")
def emotion_checkpoint(tmp_path_factory, fer_data, fer_dir):
    """A small real emotion model (MobileNetV2 from scratch, 48 px, 1,500 real faces, one epoch)."""
    from core.config import Experiment
    from core.engine.loop import run_experiment

    out = shared_dir(tmp_path_factory) / "fer-small"
    with built_once(out) as first:
        if first:  # trained once for all workers
            config = Experiment(task="fer", model="mobilenet_v2", img_size=48, epochs=1, data=str(fer_dir))
            run_experiment(config, out, data=slices(fer_data, 1500, 200))
    return out


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`), the browser tests run one after another on one worker (each starts
    an app server and Chromium) while the other worker takes the rest."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("browser"))
