"""MixUp / CutMix and the moving average of the weights, on real notMNIST letters."""

import pytest
import torch

from core.cli import main
from core.config import Experiment
from core.data.tasks import batch_transform
from core.engine.loop import run_experiment
from core.engine.mixing import BatchMixer
from core.runs.layout import partial_dir
from tests.conftest import StopAfter, slices


def letter_batch(notmnist_data, n=32):
    split = notmnist_data["train"].head(n)
    transform = batch_transform(Experiment(augment_shift=0))
    return transform.eval(split.images), split.labels


def test_mixup_blends_each_image_with_its_neighbour_and_the_labels_alike(notmnist_data):
    x, y = letter_batch(notmnist_data)
    mixed, targets = BatchMixer(Experiment(mixup=0.4), 10)(x, y, torch.Generator().manual_seed(1))
    assert torch.allclose(targets.sum(1), torch.ones(len(y)))
    own = targets[torch.arange(len(y)), y]
    lam = own[y != y.roll(1)][0]  # one weight for the whole batch, on the image's own letter
    assert 0 < lam < 1
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.roll(1, 0), atol=1e-5)


def test_cutmix_pastes_one_box_whose_area_is_the_other_labels_weight(notmnist_data):
    x, y = letter_batch(notmnist_data)
    mixed, targets = BatchMixer(Experiment(cutmix=1.0), 10)(x, y, torch.Generator().manual_seed(3))
    other = x.roll(1, 0)
    changed = (mixed != x).any(1).any(0)  # the pixels where some letter was pasted over
    rows, cols = torch.nonzero(changed, as_tuple=True)
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    assert torch.equal(mixed[..., r0:r1, c0:c1], other[..., r0:r1, c0:c1])  # one box, the neighbour's pixels
    assert torch.equal(mixed[..., ~changed], x[..., ~changed])  # and the image's own everywhere else
    differ = int(torch.nonzero(y != y.roll(1))[0])
    box_share = (r1 - r0) * (c1 - c0) / changed.numel()
    assert 0 < box_share == pytest.approx(1 - float(targets[differ, y[differ]]), abs=1e-6)


def test_mixing_draws_from_the_runs_generator_not_torchs(notmnist_data):
    x, y = letter_batch(notmnist_data)
    mixer = BatchMixer(Experiment(mixup=0.4, cutmix=1.0), 10)
    before = torch.get_rng_state()
    a = mixer(x, y, torch.Generator().manual_seed(5))
    b = mixer(x, y, torch.Generator().manual_seed(5))
    c = mixer(x, y, torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])


def test_a_slow_average_stays_near_the_start_and_a_fast_one_follows(notmnist_dir, notmnist_data):
    """Decay 0.9999 over ~100 steps keeps about 1 % of the training: the kept network is still the random start.
    Decay 0.9 averages the last few steps: as good as the trained weights."""
    data = slices(notmnist_data, 3000, 500)
    base = Experiment(epochs=2, data=str(notmnist_dir))
    _, trained = run_experiment(base, data=data)
    _, slow = run_experiment(Experiment(epochs=2, data=str(notmnist_dir), ema_decay=0.9999), data=data)
    _, fast = run_experiment(Experiment(epochs=2, data=str(notmnist_dir), ema_decay=0.9), data=data)
    assert trained.test.accuracy > 0.7 and slow.test.accuracy < 0.4, (trained.test.accuracy, slow.test.accuracy)
    assert fast.test.accuracy > trained.test.accuracy - 0.05, (fast.test.accuracy, trained.test.accuracy)
    # The training loss is the trained weights', the same in all three: only what is kept differs.
    assert slow.history[0]["train_loss"] == pytest.approx(trained.history[0]["train_loss"], rel=1e-5)


def test_a_mixed_averaged_run_resumes_to_the_same_model(tmp_path, notmnist_dir, notmnist_data):
    data = slices(notmnist_data, 1200, 300)
    config = Experiment(epochs=3, data=str(notmnist_dir), mixup=0.4, cutmix=1.0, ema_decay=0.95)
    straight, run = run_experiment(config, tmp_path / "straight", data=data)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "resumed", callbacks=[StopAfter(2)], data=data)
    resumed, run2 = run_experiment(config, tmp_path / "resumed", data=data, resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["train_loss"] for h in run.history] == [h["train_loss"] for h in run2.history]
    _, plain = run_experiment(Experiment(epochs=3, data=str(notmnist_dir), ema_decay=0.95), data=data)
    assert plain.history[0]["train_loss"] < run.history[0]["train_loss"]  # blended labels are harder to fit
    assert run.test.accuracy > 0.6, run.test.accuracy  # and the letters are still learnt


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--mixup", "-1"], "mixup must be between 0 and 10"),
        (["--cutmix", "11"], "cutmix must be between 0 and 10"),
        (["--ema-decay", "1"], "EMA decay must be 0 (off) or at least 0.5 and below 1"),
        (["--ema-decay", "0.2"], "EMA decay must be 0 (off)"),
        (["--mixup", "0.2", "--teachers", "x"], "cannot be combined with --teachers"),
    ],
)
def test_bad_regularizer_flags_are_one_line_errors(flags, expected, tmp_path, capsys):
    code = main(["train", "notmnist", "--data", "bundled", "--epochs", "1", "--out", str(tmp_path / "D"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and expected in err, err
    assert not (tmp_path / "D").exists() and not partial_dir(tmp_path / "D").exists()
