"""Train an experiment in the background with live progress, or load a checkpoint and classify letters."""
import dataclasses
import time

import streamlit as st

from core.checkpoint import CheckpointError
from core.config import FER_ARCHS, FREEZE_DEPTHS, NOTMNIST_MODELS, Experiment
from core.images import ImageLoadError, open_image
from core.jobs import cancel_job, list_jobs, runs_dir, start_job
from core.permutation import permute_pixels
from core.plots import enlarge, probability_bars, training_curves
from pages.common import checkpoint_choices, classifier, data_source, fer_source
from pages.sketchpad import sketchpad

st.title("Train or load models")
train_tab, predict_tab = st.tabs(["Train", "Load a model and predict"])


FER_TRAIN_SIZE = 28_709  # FER-2013 Training


def seconds_per_epoch(model: str) -> float | None:
    """From the newest finished notMNIST checkpoint of this model, so the estimate is this machine's."""
    from core.checkpoint import read_meta

    for path in checkpoint_choices().values():
        meta = read_meta(path)
        if meta["config"]["model"] == model and meta.get("history"):
            per = [h["seconds"] for h in meta["history"]]
            return sum(per) / len(per) * 15_000 / max(meta["data"]["train_size"], 1)
    return None


@st.cache_data(show_spinner="Measuring training speed on this machine…", max_entries=64)
def fer_seconds_per_image(arch: str, img_size: int, freeze: str, batch_size: int) -> float:
    from core.estimate import seconds_per_image

    config = Experiment(task="fer", model=arch, img_size=img_size, freeze=freeze, pretrained=freeze != "none",
                        batch_size=batch_size)
    return seconds_per_image(config)


def letters_form() -> Experiment | None:
    defaults = Experiment()
    with st.form("letters"):
        st.markdown(f"Data source: `{data_source()}` (change it in the sidebar)")
        c1, c2, c3, c4 = st.columns(4)
        model = c1.selectbox("Model", NOTMNIST_MODELS, format_func=lambda m: {"cnn": "CNN", "mlp": "MLP"}[m])
        permute = c2.toggle("Permute pixels")
        perm_seed = c2.number_input("Permutation seed", 0, 2**31 - 1, 0)
        epochs = c3.number_input("Epochs", 1, 100, defaults.epochs)
        batch = c3.select_slider("Batch size", [32, 64, 128, 256, 512], value=defaults.batch_size)
        lr = c4.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=defaults.lr,
                              format_func=lambda v: f"{v:g}")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0)
        limit = st.number_input("Use only the first N training images (0 = all)", 0, 100_000, 0, step=1000)
        started = st.form_submit_button("Start training", type="primary")
    estimate = seconds_per_epoch(model)
    if estimate:
        st.caption(f"About {estimate:.0f} s per epoch on the full training split on this machine.")
    if not started:
        return None
    return dataclasses.replace(defaults, model=model, permute=permute, permutation_seed=int(perm_seed),
                               epochs=int(epochs), batch_size=int(batch), lr=float(lr), seed=int(seed),
                               data=data_source(), train_limit=int(limit) or None)


def faces_form() -> Experiment | None:
    defaults = Experiment(task="fer")
    source = fer_source()
    st.markdown(f"Data source: `{source or 'not set'}` (change it in the sidebar)")
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox("Backbone", FER_ARCHS, format_func={"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}.get)
    start = c1.radio("Start from", ["scratch", "ImageNet weights"], horizontal=True)
    freeze = c2.selectbox("Freeze", FREEZE_DEPTHS, disabled=start == "scratch",
                          format_func={"none": "nothing (fine-tune all)", "layer1": "layer1", "layer2": "layer1+2",
                                       "layer3": "layer1+2+3", "all": "all conv layers"}.get)
    img_size = c2.select_slider("Input size (px)", [48, 64, 96, 112, 160, 224], value=96)
    epochs = c3.number_input("Epochs", 1, 100, 10, key="fer_epochs")
    batch = c3.select_slider("Batch size", [16, 32, 64, 128], value=defaults.batch_size, key="fer_batch")
    optimizer = c4.radio("Optimizer", ["adam", "sgd"], horizontal=True)
    lr = c4.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], value=1e-3,
                          format_func=lambda v: f"{v:g}", key="fer_lr")
    o1, o2, o3, o4 = st.columns(4)
    schedule = o1.selectbox("LR schedule", ["step", "cosine", "onecycle", "constant"])
    smoothing = o2.number_input("Label smoothing", 0.0, 0.5, 0.0, 0.05)
    weights = o3.toggle("Class weights", help="weight the loss by inverse class frequency (disgusted is 1.5 %)")
    limit = o4.number_input("Training images (0 = all)", 0, FER_TRAIN_SIZE, 0, step=1000)
    frozen = freeze if start != "scratch" else "none"
    per_image = fer_seconds_per_image(arch, img_size, frozen, int(batch))
    images = int(limit) or FER_TRAIN_SIZE
    st.caption(f"Estimated on this machine: about **{per_image * images / 60:.0f} min per epoch** "
               f"({1 / per_image:.0f} images/s for training, plus a short evaluation), "
               f"so {epochs} epochs take about {per_image * images * epochs / 3600:.1f} h.")
    if not st.button("Start training", type="primary", key="fer_start", disabled=not source):
        return None
    return dataclasses.replace(defaults, model=arch, pretrained=start != "scratch", freeze=frozen, img_size=img_size,
                               epochs=int(epochs), batch_size=int(batch), optimizer=optimizer, lr=float(lr),
                               lr_schedule=schedule, label_smoothing=float(smoothing), class_weights=weights,
                               data=source, train_limit=int(limit) or None)


with train_tab:
    task = st.radio("Experiment", ["notMNIST letters", "FER-2013 emotions"], horizontal=True)
    config = letters_form() if task == "notMNIST letters" else faces_form()
    if config is not None:
        start_job(config, runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.name}")
        st.toast(f"Started {config.name}")

    jobs = list_jobs()[:6]
    running = any(j.status in ("running", "starting") for j in jobs)

    @st.fragment(run_every=2 if running else None)
    def show_jobs():
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
                head.markdown(f"**{Experiment.from_dict(cfg).name}** · {job.status}")
                if job.status in ("running", "starting"):
                    if button.button("Cancel", key=f"cancel-{job.id}"):
                        cancel_job(job)
                        st.rerun()
                    epoch = p.get("epoch", 0)
                    st.progress(job.fraction, text=f"epoch {epoch}/{cfg['epochs']}, batch {p.get('step', 0)}/{p.get('steps', '?')}, "
                                                   f"loss {p.get('loss', float('nan')):.3f}")
                elif job.status == "finished":
                    st.success(f"Test accuracy {p['accuracy']:.2%} after {p['training_seconds']:.0f} s of training · saved to "
                               f"`{job.info['out_dir']}`")
                elif job.status == "failed":
                    st.error(p.get("error", "the run failed"))
                else:
                    st.error("The training process ended without finishing. Last lines of its log:")
                    st.code(job.log_tail() or "(empty log)")
                if p.get("history"):
                    held_out = p["history"][0].get("eval_split", "test")
                    st.plotly_chart(training_curves({"train": [{**h, "acc": h["train_accuracy"]} for h in p["history"]],
                                                     held_out: [{**h, "acc": h["eval_accuracy"]} for h in p["history"]]},
                                                    metric="acc"), width="stretch", key=f"curve-{job.id}")

    show_jobs()


with predict_tab:
    choices = checkpoint_choices()
    if not choices:
        st.info("No trained models under `checkpoints/` yet. Train one in the first tab.")
        st.stop()
    label = st.selectbox("Model", list(choices))
    try:
        clf = classifier(choices[label])
    except CheckpointError as exc:
        st.error(str(exc))
        st.stop()
    meta = clf.meta
    cfg = clf.config
    st.caption(f"{cfg.model.upper()} on {'permuted (seed %d)' % cfg.permutation_seed if cfg.permute else 'original'} "
               f"pixels · {meta['num_parameters']:,} parameters · trained {cfg.epochs} epochs on "
               f"{meta['data']['train_size']:,} images from `{meta['data']['source']}`")

    mode = st.radio("Input", ["Draw", "Upload an image"], horizontal=True)
    image = None
    if mode == "Draw":
        st.caption("Draw one letter A–J, large and centred.")
        image = sketchpad()
    else:
        upload = st.file_uploader("An image of a letter (any size; dark-on-light is inverted automatically)",
                                  type=["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"])
        if upload is not None:
            try:
                image = open_image(upload.getvalue(), name=upload.name)
            except ImageLoadError as exc:
                st.error(str(exc))

    if image is not None:
        prepared = clf.prepare(image)
        pred = clf.predict_arrays([prepared])[0]
        seen, bars = st.columns([1, 2])
        with seen:
            st.markdown("**What the model sees**")
            shown = [enlarge(prepared, 6)]
            if clf.perm is not None:
                import torch

                scrambled = permute_pixels(torch.from_numpy(prepared)[None, None], clf.perm)[0, 0].numpy()
                shown.append(enlarge(scrambled, 6))
            st.image(shown, caption=["28×28 input", "after the permutation"][: len(shown)])
        with bars:
            st.metric("Prediction", pred.label)
            st.caption(f"{pred.probabilities[pred.label]:.1%} probability")
            st.plotly_chart(probability_bars(pred.probabilities), width="stretch")
