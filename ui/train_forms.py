"""The Train page's forms: the two experiments (notMNIST, FER), with measured estimates and the study's defaults.
Form values outlive leaving the page and a reload (ui.form_memory)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.config import FER_ARCHS, FREEZE_DEPTHS, MODEL_NAMES, NOTMNIST_MODELS, OPTIMIZERS, Experiment
from core.data.tasks import get_task
from ui.data_sources import fer_source, notmnist_source, training_source_problem
from ui.form_memory import Field, remember_form, restore_form

# Full split sizes, for the estimate before anything is loaded (notMNIST_small; FER-2013's three splits).
SPLIT_SIZES = {
    "notmnist": {"train": 14_979, "test": 3_745},
    "fer": {"train": 28_709, "validation": 3_589, "test": 3_589},
}
LETTER_BATCHES = [32, 64, 128, 256, 512]
LETTER_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
LETTER_FIELDS = {
    "letters_model": Field("cnn", options=NOTMNIST_MODELS),
    "letters_permute": Field(False),
    "letters_perm_seed": Field(0, low=0, high=2**31 - 1),
    "letters_epochs": Field(10, low=1, high=100),
    "letters_batch": Field(64, options=LETTER_BATCHES),
    "letters_lr": Field(1e-3, options=LETTER_LRS),
    "letters_seed": Field(0, low=0, high=2**31 - 1),
    "letters_limit": Field(0, low=0, high=100_000),
}
# The shipped freeze-depth study's setting: the FER form's defaults.
STUDY_SETTING = {"model": "mobilenet_v2", "img_size": 96, "epochs": 10, "lr_schedule": "onecycle",
                 "label_smoothing": 0.1}  # fmt: skip
IMG_SIZES = [48, 64, 96, 112, 160, 224]
FER_BATCHES = [16, 32, 64, 128]
FER_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
SCHEDULES = ["onecycle", "cosine", "step", "constant"]
FER_FIELDS = {
    "fer_arch": Field("mobilenet_v2", options=FER_ARCHS),
    "fer_start_from": Field("scratch", options=["scratch", "ImageNet weights"]),
    "fer_freeze": Field("none", options=FREEZE_DEPTHS),
    "fer_img_size": Field(96, options=IMG_SIZES),
    "fer_epochs": Field(10, low=1, high=100),
    "fer_batch": Field(64, options=FER_BATCHES),
    "fer_optimizer": Field("adam", options=OPTIMIZERS),
    "fer_lr": Field(1e-3, options=FER_LRS),
    "fer_schedule": Field("onecycle", options=SCHEDULES),
    "fer_smoothing": Field(0.1, low=0.0, high=0.5),
    "fer_class_weights": Field(False),
    "fer_limit": Field(0, low=0, high=SPLIT_SIZES["fer"]["train"]),
}


def estimate(config: Experiment) -> None:
    """How long `config` will take from Start to its record (core.estimate): the measured speed of the setting,
    start-up, and a band from the runs that finished here. The first time a setting is seen its speed is measured
    in a background process (about 10 s, core.engine.probe); until then a waiting line, refreshed every 2 s."""
    from core.estimate import estimate_run, past_runs
    from core.study.report import took

    full = SPLIT_SIZES[config.task]
    sizes = {k: min((config.train_limit if k == "train" else config.test_limit) or n, n) for k, n in full.items()}
    past = past_runs(config.task)
    guess = estimate_run(config, sizes, past)
    if guess is not None:
        evidence = (
            f"the band is how far off the last {guess.evidence} finished run(s) here were"
            if guess.evidence >= 2
            else "no runs finished here yet to check it against, so the band is wide"
        )
        st.caption(
            f"{config.epochs} epoch(s) on {sizes['train']:,} images: **{guess.describe()}** from Start to results "
            f"({took(guess.startup_s)} to start, about {took(guess.per_epoch_s)} per epoch, "
            f"{took(guess.evaluation_s)} to evaluate; measured speed of this setting on this machine; {evidence})."
        )
        return
    from core.jobs import measure_in_background

    problem = measure_in_background(config)
    if problem:
        st.caption(f"No time estimate yet: {problem}.")
        return
    st.caption("Measuring the training speed of this setting on this machine (about 10 s)…")
    _wait_for_probe(config)


def few_images_warning(config: Experiment, classes: int) -> None:
    """A run on a handful of images trains, but its accuracy says nothing about the task: say so before Start."""
    limit = config.train_limit
    if limit is not None and limit < 100 * classes:
        st.warning(
            f"Only {limit:,} training image(s), {limit / classes:.1f} per class on average: the model cannot learn "
            "the task from so few, and its test accuracy will mean little. Fine for trying the pipeline; use 0 "
            "(all) for a real result.",
            icon="⚠️",
        )


@st.fragment(run_every=2)
def _wait_for_probe(config: Experiment) -> None:
    from core.engine.probe import cached_training_probe

    if cached_training_probe(config) is not None:
        st.rerun()


def letters_form() -> Experiment | None:
    """The notMNIST experiment's widgets (no st.form: the estimate follows every change as it is made)."""
    defaults = Experiment()
    restore_form(LETTER_FIELDS)
    st.markdown(f"Data source: `{notmnist_source()}` (change it in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    model = c1.selectbox("Model", NOTMNIST_MODELS, key="letters_model", format_func=lambda m: MODEL_NAMES[m])
    permute = c2.toggle("Permute pixels", key="letters_permute")
    perm_seed = c2.number_input("Permutation seed", 0, 2**31 - 1, key="letters_perm_seed")
    epochs = c3.number_input("Epochs", 1, 100, key="letters_epochs")
    batch = c3.select_slider("Batch size", LETTER_BATCHES, key="letters_batch")
    lr = c4.select_slider("Learning rate", LETTER_LRS, format_func=lambda v: f"{v:g}", key="letters_lr")
    seed_value = c4.number_input("Seed", 0, 2**31 - 1, key="letters_seed")
    limit = st.number_input("Use only the first N training images (0 = all)", 0, 100_000, step=1000,
                            key="letters_limit")  # fmt: skip
    remember_form(LETTER_FIELDS)
    config = dataclasses.replace(
        defaults,
        model=model,
        permute=permute,
        permutation_seed=int(perm_seed),
        epochs=int(epochs),
        batch_size=int(batch),
        lr=float(lr),
        seed=int(seed_value),
        data=notmnist_source(),
        train_limit=int(limit) or None,
    )
    return start_button(config, "letters_start")


def start_button(config: Experiment, key: str) -> Experiment | None:
    """Below a form: how long the run will take, a warning for a handful of images, why the source cannot train
    (the button is then disabled), and Start; returns the run's setting when Start is clicked."""
    estimate(config)
    few_images_warning(config, len(get_task(config.task).spec.classes))
    problem = training_source_problem(config.task)
    if problem:
        st.info(problem)
    started = st.button("Start training", type="primary", key=key, disabled=bool(problem))
    return config if started else None


def imagenet_weights_here(arch: str) -> bool:
    from core.models.backbones import imagenet_weights_file

    return imagenet_weights_file(arch).is_file()


def faces_form() -> Experiment | None:
    defaults = Experiment(task="fer", **STUDY_SETTING)
    restore_form(FER_FIELDS)
    source = fer_source()
    st.markdown(f"Data source: `{source or 'none found'}` (change it in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox(
        "Backbone",
        FER_ARCHS,
        key="fer_arch",
        format_func=MODEL_NAMES.get,
    )
    starts = ["scratch", "ImageNet weights"] if imagenet_weights_here(arch) else ["scratch"]
    if st.session_state.get("fer_start_from") not in starts:
        st.session_state["fer_start_from"] = "scratch"  # kept from a backbone whose weights are here
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
    img_size = c2.select_slider("Input size (px)", IMG_SIZES, key="fer_img_size")
    epochs = c3.number_input("Epochs", 1, 100, key="fer_epochs")
    batch = c3.select_slider("Batch size", FER_BATCHES, key="fer_batch")
    optimizer = c4.radio("Optimizer", OPTIMIZERS, horizontal=True, key="fer_optimizer")
    lr = c4.select_slider("Learning rate", FER_LRS, format_func=lambda v: f"{v:g}", key="fer_lr")
    o1, o2, o3, o4 = st.columns(4)
    schedule = o1.selectbox("LR schedule", SCHEDULES, key="fer_schedule")
    smoothing = o2.number_input("Label smoothing", 0.0, 0.5, step=0.05, key="fer_smoothing")
    weights = o3.toggle("Class weights", key="fer_class_weights", help="weight the loss by inverse class frequency "
                        "(disgusted is 1.5 %)")  # fmt: skip
    limit = o4.number_input("Training images (0 = all)", 0, SPLIT_SIZES["fer"]["train"], step=1000, key="fer_limit")
    remember_form(FER_FIELDS)
    frozen = freeze if start != "scratch" else "none"
    config = dataclasses.replace(
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
    return start_button(config, "fer_start")
