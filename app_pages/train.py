"""Train an experiment in the background with live progress, or load a checkpoint and classify letters."""

import time

import streamlit as st

from core.data.images import open_image
from core.data.permutation import permute_pixels
from core.errors import CheckpointError, ImageLoadError
from core.jobs import JobRefused, runs_dir, submit_job
from core.study.plots import enlarge, probability_bars
from ui.form_memory import Field, remember_form, restore_form
from ui.runs import checkpoint_choices, checkpoint_zip, classifier, model_card_panel
from ui.train_forms import faces_form, letters_form
from ui.train_jobs import jobs_panel
from ui.train_sketchpad import sketchpad

st.title("Train or load models")
train_tab, predict_tab = st.tabs(["Train", "Load a model and predict"])


with train_tab:
    experiments = {"train_task": Field("notMNIST letters", options=["notMNIST letters", "FER-2013 emotions"])}
    restore_form(experiments)
    task = st.radio("Experiment", experiments["train_task"].options, horizontal=True, key="train_task")
    remember_form(experiments)
    config = letters_form() if task == "notMNIST letters" else faces_form()
    if config is not None:
        try:
            job = submit_job(config, runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.name}")
            st.toast(f"{config.name}: {job.status.value}")
        except JobRefused as exc:
            st.warning(f"Not started: {exc}.")

    jobs_panel()


with predict_tab:
    choices = checkpoint_choices()
    if not choices:
        st.info("No trained models under `checkpoints/` yet. Train one in the first tab.")
        st.stop()
    label = st.selectbox("Model", list(choices), key="predict_model")
    try:
        clf = classifier(choices[label])
    except CheckpointError as exc:
        st.error(str(exc))
        st.stop()
    run = clf.record
    cfg = clf.config
    model_card_panel(choices[label], "letters")
    st.download_button(
        "Download this model (weights, meta.json and model card, zip)",
        checkpoint_zip(choices[label]),
        file_name=f"{choices[label].name}.zip",
        mime="application/zip",
        key="download_model",
    )
    pixels = f"permuted (seed {cfg.permutation_seed})" if cfg.permute else "original"
    st.caption(
        f"{(cfg.model or '').upper()} on {pixels} "
        f"pixels · {run.num_parameters:,} parameters · trained {cfg.epochs} epochs on "
        f"{run.data.sizes.get('train', 0):,} images from `{run.data.source}`"
    )

    mode = st.radio("Input", ["Draw", "Upload an image"], horizontal=True, key="predict_input")
    image = None
    if mode == "Draw":
        st.caption("Draw one letter A–J, large and centred.")
        image = sketchpad()
    else:
        upload = st.file_uploader(
            "An image of a letter (any size; dark-on-light is inverted automatically)",
            type=["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"],
            key="predict_upload",
        )
        if upload is not None:
            try:
                image = open_image(upload.getvalue(), name=upload.name)
            except ImageLoadError as exc:
                st.error(str(exc))

    if image is not None:
        prepared = clf.prepare(image)
        pred = clf.predict_arrays([prepared])[0]
        doubt = clf.doubt(prepared, pred)
        if doubt:
            st.warning(f"Take this prediction with care: {doubt}.", icon="⚠️")
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
