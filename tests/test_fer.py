"""The emotion study on small slices of the real FER-2013 data."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from core.config import FREEZE_DEPTHS, Experiment
from core.data import fer
from core.data.cache import load_split
from core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from core.engine.loop import run_experiment
from core.errors import DataSourceError, WeightsUnavailable
from core.models import build_model
from core.models.backbones import GrayToRGBConv
from core.runs.checkpoint import load_checkpoint
from core.study.sweep import read_sweep, run_sweep
from tests.conftest import StopAfter, slices

pytestmark = pytest.mark.slow  # real training, full splits or subprocesses; `make test-fast` skips them


def test_real_splits_follow_the_standard_protocol(fer_data):
    sizes = {name: len(split) for name, split in fer_data.items()}
    assert sizes == {"train": 28709, "validation": 3589, "test": 3589}
    assert torch.bincount(fer_data["test"].labels).tolist() == [491, 55, 528, 879, 626, 594, 416]
    assert fer_data["train"].images.shape[1:] == (1, 48, 48) and fer_data["train"].images.dtype == torch.uint8


def write_kaggle_tree(
    root,
    data,
    usage_names=True,
    per_class=6,
    naming=("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
):
    """The Kaggle download's layout, from real faces: train/<class>/, test/<class>/."""
    counts = {}
    for split, part, prefixes in (("train", "train", ["Training"]), ("test", "test", ["PublicTest", "PrivateTest"])):
        labels = data[part].labels.numpy()
        for c, folder in enumerate(naming):
            (root / split / folder).mkdir(parents=True)
            idx = np.flatnonzero(labels == c)[: per_class * len(prefixes)]
            for j, i in enumerate(idx):
                prefix = prefixes[j % len(prefixes)] if usage_names else "im"
                Image.fromarray(data[part].images[i, 0].numpy()).save(
                    root / split / folder / f"{prefix}_{i}.jpg", quality=95
                )
                counts[(split, prefix)] = counts.get((split, prefix), 0) + 1
    return counts


def test_kaggle_folders_with_usage_names_use_public_and_private_test(tmp_path, fer_data):
    write_kaggle_tree(tmp_path, fer_data)
    splits = {s: load_split(fer.SPEC, str(tmp_path), s) for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [42, 42, 42]
    assert "PrivateTest" in splits["test"].origin and "PublicTest" in splits["validation"].origin
    # Kaggle's folder names (disgust, fear, surprise) land on the project's labels, in its order.
    assert torch.bincount(splits["test"].labels, minlength=7).tolist() == [6] * 7
    assert splits["train"].classes == fer.EMOTIONS


def test_kaggle_folders_without_usage_names_carve_a_seeded_stratified_validation(tmp_path, fer_data):
    write_kaggle_tree(
        tmp_path, fer_data, usage_names=False, per_class=10, naming=fer.EMOTIONS
    )  # the other spelling of the class folders
    train = load_split(fer.SPEC, str(tmp_path), "train")
    val = load_split(fer.SPEC, str(tmp_path), "validation")
    test = load_split(fer.SPEC, str(tmp_path), "test")
    assert len(train) + len(val) == 70 and len(val) == 7 and len(test) == 140
    assert torch.bincount(val.labels, minlength=7).tolist() == [1] * 7  # stratified
    assert "stratified" in val.origin
    train_pixels = {bytes(r) for r in train.images.reshape(len(train), -1).numpy()}
    assert not any(bytes(r) in train_pixels for r in val.images.reshape(len(val), -1).numpy())


def test_no_source_set_is_one_clear_sentence(monkeypatch):
    monkeypatch.delenv("FER_DATA", raising=False)
    with pytest.raises(DataSourceError, match="FER_DATA") as err:
        load_split(fer.SPEC, None, "train")
    assert "\n" not in str(err.value)


def test_gray_input_conv_equals_rgb_repeat_and_imagenet_normalisation():
    torch.manual_seed(0)
    conv = torchvision.models.resnet18().conv1
    gray = torch.rand(3, 1, 40, 40)
    rgb = (gray.repeat(1, 3, 1, 1) - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1
    )
    assert torch.allclose(GrayToRGBConv(conv)(gray), conv(rgb), atol=1e-5)  # borders included


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
@pytest.mark.parametrize("depth", FREEZE_DEPTHS)
def test_freeze_depth_freezes_exactly_its_prefix(arch, depth):
    torch.manual_seed(0)
    config = Experiment(task="fer", model=arch, pretrained=True, freeze=depth, img_size=32)
    model = build_model(config, 7, load_weights=False)
    frozen = FREEZE_DEPTHS.index(depth)
    for i, stage in enumerate(model.stages):
        assert all(p.requires_grad == (i >= frozen) for p in stage.parameters()), (i, depth)
    assert all(p.requires_grad for p in model.head.parameters())
    model.train()
    for i, stage in enumerate(model.stages):
        bns = [m for m in stage.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert bns and all(bn.training == (i >= frozen) for bn in bns)

    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    after = model.state_dict()
    for i, stage in enumerate(model.stages):
        names = [f"stages.{i}.{k}" for k in stage.state_dict()]
        unchanged = all(torch.equal(before[k], after[k]) for k in names)
        assert unchanged == (i < frozen), (i, depth)  # frozen: weights and BN statistics untouched


def test_pretrained_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(
        "torch.hub.load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(OSError("no network"))
    )
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth") as err:
        build_model(Experiment(task="fer", model="resnet18", pretrained=True), 7)
    assert "--weights" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(WeightsUnavailable, match="No weights file"):
        build_model(Experiment(task="fer", model="resnet18", weights=str(tmp_path / "none.pth")), 7)


def test_resume_gives_the_same_model_as_an_uninterrupted_run(tmp_path, fer_data, fer_dir):
    config = Experiment(
        task="fer",
        model="resnet18",
        img_size=32,
        epochs=3,
        batch_size=32,
        data=str(fer_dir),
        lr_schedule="cosine",
        erasing=0.5,
        rotation=10,
    )
    data = slices(fer_data, 160, 64)
    straight, run = run_experiment(config, tmp_path / "straight", data=data)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "resumed", callbacks=[StopAfter(2)], data=data)
    assert (tmp_path / ".resumed.partial" / "last").is_dir() and not (tmp_path / "resumed").exists()
    resumed, run2 = run_experiment(config, tmp_path / "resumed", data=data, resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["eval_accuracy"] for h in run.history] == [h["eval_accuracy"] for h in run2.history]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".resumed.lock", ".straight.lock", "resumed", "straight"]
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["meta.json", "model.safetensors"]
    assert run2.best_epoch == max(run2.history, key=lambda h: h["eval_accuracy"])["epoch"]
    loaded, _ = load_checkpoint(tmp_path / "resumed")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), resumed.state_dict().values()))


def test_pretrained_mobilenet_beats_scratch_after_one_epoch(imagenet_mobilenet, fer_data, fer_dir):
    data = slices(fer_data, 1500, 400)
    base = Experiment(
        task="fer",
        model="mobilenet_v2",
        img_size=64,
        epochs=1,
        data=str(fer_dir),
        lr_schedule="constant",
        precision="fp32",
    )
    _, scratch = run_experiment(base, data=data)
    _, pretrained = run_experiment(dataclasses.replace(base, pretrained=True), data=data)
    s, p = scratch.test.accuracy, pretrained.test.accuracy
    assert p > s + 0.03, (s, p)
    assert pretrained.test.ci_low <= p <= pretrained.test.ci_high


def test_sweep_runs_rows_skips_finished_ones_and_summarises(tmp_path, fer_data, fer_dir, imagenet_mobilenet, caplog):
    base = Experiment(task="fer", model="mobilenet_v2", img_size=32, epochs=1, batch_size=64, data=str(fer_dir))
    data = slices(fer_data, 200, 64)
    run_sweep(base, tmp_path / "sweep", rows=["scratch", "all"], data=data)
    summary, records = read_sweep(tmp_path / "sweep")
    status = {r["row"]: r["status"] for r in summary["rows"]}
    assert status == {
        "scratch": "complete",
        "none": "missing",
        "layer1": "missing",
        "layer2": "missing",
        "layer3": "missing",
        "all": "complete",
    }
    assert records["all"].trainable_parameters < records["scratch"].trainable_parameters / 50
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["rows"][0]["test"]["accuracy"] >= 0
    caplog.clear()
    with caplog.at_level("INFO", logger="core.study.sweep"):
        run_sweep(base, tmp_path / "sweep", rows=["scratch"], data=data)
    assert [r.getMessage() for r in caplog.records] == ["[scratch] already complete, skipped"]


def test_unavailable_rows_come_with_the_one_command_that_fills_them(tmp_path, fer_data, fer_dir, monkeypatch):
    import shlex

    from core.cli import build_parser, experiment_from_args
    from core.study.sweep import sweep_command

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(
        "torch.hub.load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(OSError("no network"))
    )
    base = Experiment(
        task="fer",
        model="resnet18",
        img_size=40,
        epochs=3,
        lr_schedule="onecycle",
        label_smoothing=0.1,
        data=str(fer_dir),
    )
    folder = tmp_path / "sweep-resnet18-40px-3ep"
    run_sweep(base, folder, rows=["layer1", "all"], data=slices(fer_data, 64, 32))
    summary, _ = read_sweep(folder)
    rows = {r["row"]: r for r in summary["rows"]}
    assert rows["layer1"]["status"] == rows["all"]["status"] == "unavailable"
    assert "resnet18-f37072fd.pth" in rows["layer1"]["error"]
    # the command, parsed by the real CLI, describes exactly this sweep's setting and folder
    command = shlex.split(sweep_command(summary, folder))
    assert command[:3] == ["python", "-m", "core"]
    args = build_parser().parse_args(command[3:])
    again = experiment_from_args(args, pretrained=False, freeze="none")
    assert again.to_dict() == Experiment.from_dict({**summary["setting"], "pretrained": False}).to_dict()
    assert args.out is None  # the default folder name is this sweep's


def test_unseen_test_faces_are_exactly_those_the_manifest_finds_in_train(fer_data, fer_dir):
    """FER-2013 repeats faces across its splits: the manifest's pixel hashes say which test faces occur in train,
    and the unseen-in-train subset leaves out exactly those."""
    import csv
    import hashlib

    from core.data.sources import unseen_mask

    rows = list(csv.DictReader((fer_dir / "manifest.csv").open()))
    train_hashes = {r["pixel_md5"] for r in rows if r["split"] == "train"}
    test_rows = sorted((r for r in rows if r["split"] == "test"), key=lambda r: int(r["index"]))
    test = fer_data["test"]
    assert [hashlib.md5(test.images[i, 0].numpy().tobytes()).hexdigest() for i in range(5)] == [
        r["pixel_md5"] for r in test_rows[:5]
    ]  # the decoded faces are the manifest's, in its order
    in_train = [r["pixel_md5"] in train_hashes for r in test_rows]
    assert sum(in_train) == 288
    mask = unseen_mask(test, fer_data["train"])
    assert mask.tolist() == [not seen for seen in in_train]
    val_hashes = [r["pixel_md5"] for r in rows if r["split"] == "validation"]
    assert sum(h in train_hashes for h in val_hashes) == 280
