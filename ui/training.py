"""The Train page's forms: the two experiments (notMNIST, FER), with estimates and the study's defaults."""

import dataclasses

import streamlit as st

from core.config import FER_ARCHS, FREEZE_DEPTHS, NOTMNIST_MODELS, Experiment
from ui.common import data_source, fer_source, task_runs, training_source_problem

FER_TRAIN_SIZE = 28_709  # FER-2013 Training


def seconds_per_epoch(model: str) -> float | None:
    """From a finished notMNIST checkpoint of this model, so the estimate is this machine's."""
    for run in task_runs("notmnist", loadable=True):
        if run.config.model == model and run.history:
            per = [h["seconds"] for h in run.history]
            return sum(per) / len(per) * 15_000 / max(run.data.sizes.get("train", 0), 1)
    return None


@st.cache_data(show_spinner="Measuring training speed on this machine…", max_entries=64)
def fer_seconds_per_image(arch: str, img_size: int, freeze: str, batch_size: int) -> float:
    from core.engine.estimate import seconds_per_image

    config = Experiment(
        task="fer", model=arch, img_size=img_size, freeze=freeze, pretrained=freeze != "none", batch_size=batch_size
    )
    return seconds_per_image(config)


def letters_form() -> Experiment | None:
    defaults = Experiment()
    with st.form("letters"):
        st.markdown(f"Data source: `{data_source()}` (change it in the sidebar)")
        c1, c2, c3, c4 = st.columns(4)
        model = c1.selectbox(
            "Model", NOTMNIST_MODELS, key="letters_model", format_func=lambda m: {"cnn": "CNN", "mlp": "MLP"}[m]
        )
        permute = c2.toggle("Permute pixels", key="letters_permute")
        perm_seed = c2.number_input("Permutation seed", 0, 2**31 - 1, 0, key="letters_perm_seed")
        epochs = c3.number_input("Epochs", 1, 100, defaults.epochs, key="letters_epochs")
        batch = c3.select_slider("Batch size", [32, 64, 128, 256, 512], value=defaults.batch_size, key="letters_batch")
        lr = c4.select_slider(
            "Learning rate",
            [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
            value=defaults.lr,
            format_func=lambda v: f"{v:g}",
            key="letters_lr",
        )
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="letters_seed")
        limit = st.number_input(
            "Use only the first N training images (0 = all)", 0, 100_000, 0, step=1000, key="letters_limit"
        )
        problem = training_source_problem("notmnist")
        if problem:
            st.info(problem)
        started = st.form_submit_button("Start training", type="primary", key="letters_start", disabled=bool(problem))
    estimate = seconds_per_epoch(model)
    if estimate:
        st.caption(f"About {estimate:.0f} s per epoch on the full training split on this machine.")
    if not started:
        return None
    return dataclasses.replace(
        defaults,
        model=model,
        permute=permute,
        permutation_seed=int(perm_seed),
        epochs=int(epochs),
        batch_size=int(batch),
        lr=float(lr),
        seed=int(seed),
        data=data_source(),
        train_limit=int(limit) or None,
    )


STUDY_SETTING = {"model": "mobilenet_v2", "img_size": 96, "epochs": 10, "lr_schedule": "onecycle",
                 "label_smoothing": 0.1}  # the shipped freeze-depth study's setting, the form's defaults  # fmt: skip
IMG_SIZES = [48, 64, 96, 112, 160, 224]
SCHEDULES = ["onecycle", "cosine", "step", "constant"]


def imagenet_weights_here(arch: str) -> bool:
    from core.models.backbones import imagenet_weights_file

    return imagenet_weights_file(arch).is_file()


def faces_form() -> Experiment | None:
    defaults = Experiment(task="fer", **STUDY_SETTING)
    source = fer_source()
    st.markdown(f"Data source: `{source or 'none found'}` (change it in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox(
        "Backbone",
        FER_ARCHS,
        index=FER_ARCHS.index(defaults.arch),
        key="fer_arch",
        format_func={"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}.get,
    )
    starts = ["scratch", "ImageNet weights"] if imagenet_weights_here(arch) else ["scratch"]
    start = c1.radio("Start from", starts, horizontal=True, key="fer_start_from")
    if len(starts) == 1:
        from core.models.backbones import imagenet_weights_file

        wanted = imagenet_weights_file(arch)
        c1.caption(f"ImageNet weights: put `{wanted.name}` in `{wanted.parent}` (torchvision's cache) to fine-tune.")
    freeze = c2.selectbox(
        "Freeze",
        FREEZE_DEPTHS,
        disabled=start == "scratch",
        key="fer_freeze",
        format_func={
            "none": "nothing (fine-tune all)",
            "layer1": "layer1",
            "layer2": "layer1+2",
            "layer3": "layer1+2+3",
            "all": "all conv layers",
        }.get,
    )
    img_size = c2.select_slider("Input size (px)", IMG_SIZES, value=defaults.img_size, key="fer_img_size")
    epochs = c3.number_input("Epochs", 1, 100, defaults.epochs, key="fer_epochs")
    batch = c3.select_slider("Batch size", [16, 32, 64, 128], value=defaults.batch_size, key="fer_batch")
    optimizer = c4.radio("Optimizer", ["adam", "sgd"], horizontal=True, key="fer_optimizer")
    lr = c4.select_slider(
        "Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], value=1e-3, format_func=lambda v: f"{v:g}", key="fer_lr"
    )
    o1, o2, o3, o4 = st.columns(4)
    schedule = o1.selectbox("LR schedule", SCHEDULES, key="fer_schedule")
    smoothing = o2.number_input("Label smoothing", 0.0, 0.5, defaults.label_smoothing, 0.05, key="fer_smoothing")
    weights = o3.toggle("Class weights", key="fer_class_weights", help="weight the loss by inverse class frequency "
                        "(disgusted is 1.5 %)")  # fmt: skip
    limit = o4.number_input("Training images (0 = all)", 0, FER_TRAIN_SIZE, 0, step=1000, key="fer_limit")
    frozen = freeze if start != "scratch" else "none"
    per_image = fer_seconds_per_image(arch, img_size, frozen, int(batch))
    images = int(limit) or FER_TRAIN_SIZE
    st.caption(
        f"Estimated on this machine: about **{per_image * images / 60:.0f} min per epoch** "
        f"({1 / per_image:.0f} images/s for training, plus a short evaluation), "
        f"so {epochs} epochs take about {per_image * images * epochs / 3600:.1f} h."
    )
    problem = training_source_problem("fer")
    if problem:
        st.info(problem)
    if not st.button("Start training", type="primary", key="fer_start", disabled=bool(problem)):
        return None
    return dataclasses.replace(
        defaults,
        model=arch,
        pretrained=start != "scratch",
        freeze=frozen,
        img_size=img_size,
        epochs=int(epochs),
        batch_size=int(batch),
        optimizer=optimizer,
        lr=float(lr),
        lr_schedule=schedule,
        label_smoothing=float(smoothing),
        class_weights=weights,
        data=source,
        train_limit=int(limit) or None,
    )
