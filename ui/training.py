"""The Train page's parts: the two experiment forms (notMNIST, FER) and the live list of background runs."""

import dataclasses

import streamlit as st

from core.config import FER_ARCHS, FREEZE_DEPTHS, NOTMNIST_MODELS, Experiment
from core.jobs import cancel_job, list_jobs
from core.runs.status import RunStatus
from core.study.plots import training_curves
from ui.common import data_source, fer_source, task_runs

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
        started = st.form_submit_button("Start training", type="primary", key="letters_start")
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


def faces_form() -> Experiment | None:
    defaults = Experiment(task="fer")
    source = fer_source()
    st.markdown(f"Data source: `{source or 'not set'}` (change it in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox(
        "Backbone", FER_ARCHS, key="fer_arch", format_func={"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}.get
    )
    start = c1.radio("Start from", ["scratch", "ImageNet weights"], horizontal=True, key="fer_start_from")
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
    img_size = c2.select_slider("Input size (px)", [48, 64, 96, 112, 160, 224], value=96, key="fer_img_size")
    epochs = c3.number_input("Epochs", 1, 100, 10, key="fer_epochs")
    batch = c3.select_slider("Batch size", [16, 32, 64, 128], value=defaults.batch_size, key="fer_batch")
    optimizer = c4.radio("Optimizer", ["adam", "sgd"], horizontal=True, key="fer_optimizer")
    lr = c4.select_slider(
        "Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], value=1e-3, format_func=lambda v: f"{v:g}", key="fer_lr"
    )
    o1, o2, o3, o4 = st.columns(4)
    schedule = o1.selectbox("LR schedule", ["step", "cosine", "onecycle", "constant"], key="fer_schedule")
    smoothing = o2.number_input("Label smoothing", 0.0, 0.5, 0.0, 0.05, key="fer_smoothing")
    weights = o3.toggle(
        "Class weights", key="fer_class_weights", help="weight the loss by inverse class frequency (disgusted is 1.5 %)"
    )
    limit = o4.number_input("Training images (0 = all)", 0, FER_TRAIN_SIZE, 0, step=1000, key="fer_limit")
    frozen = freeze if start != "scratch" else "none"
    per_image = fer_seconds_per_image(arch, img_size, frozen, int(batch))
    images = int(limit) or FER_TRAIN_SIZE
    st.caption(
        f"Estimated on this machine: about **{per_image * images / 60:.0f} min per epoch** "
        f"({1 / per_image:.0f} images/s for training, plus a short evaluation), "
        f"so {epochs} epochs take about {per_image * images * epochs / 3600:.1f} h."
    )
    if not st.button("Start training", type="primary", key="fer_start", disabled=not source):
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


def jobs_panel() -> None:
    """Every recent run with live progress; it refreshes itself every 2 s while one is running."""
    running = any(j.status.active for j in list_jobs()[:6])

    @st.fragment(run_every=2 if running else None)
    def show_jobs() -> None:
        jobs = list_jobs()[:6]
        if not jobs:
            st.info("No training runs yet. Runs keep going in the background when you reload or leave the page.")
            return
        st.subheader("Runs")
        for job in jobs:
            p = job.progress
            cfg = job.info["config"]
            with st.container(border=True):
                head, button = st.columns([5, 1])
                head.markdown(f"**{job.name}** · {job.status.value}")
                if job.status.active:
                    if button.button("Cancel", key=f"cancel-{job.id}"):
                        cancel_job(job)
                        st.rerun()
                    epoch = p.get("epoch", 0)
                    st.progress(
                        job.fraction,
                        text=f"epoch {epoch}/{cfg['epochs']}, batch {p.get('step', 0)}/{p.get('steps', '?')}, "
                        f"loss {p.get('loss', float('nan')):.3f}",
                    )
                elif job.status is RunStatus.FINISHED:
                    st.success(
                        f"Test accuracy {p['accuracy']:.2%} after {p['training_seconds']:.0f} s of training · saved to "
                        f"`{job.info['out_dir']}`"
                    )
                elif job.status is RunStatus.FAILED:
                    st.error(p.get("error", "the run failed"))
                else:
                    st.error("The training process ended without finishing. Last lines of its log:")
                    st.code(job.log_tail() or "(empty log)")
                if p.get("history"):
                    held_out = p["history"][0].get("eval_split", "test")
                    st.plotly_chart(
                        training_curves(
                            {
                                "train": [{**h, "acc": h["train_accuracy"]} for h in p["history"]],
                                held_out: [{**h, "acc": h["eval_accuracy"]} for h in p["history"]],
                            },
                            metric="acc",
                        ),
                        width="stretch",
                        key=f"curve-{job.id}",
                    )

    show_jobs()
