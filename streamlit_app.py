"""Entry point: `streamlit run streamlit_app.py` (or `make run`)."""

from pathlib import Path

from core.inference.serving import serving_environment

serving_environment()  # before any page loads torch: passive OpenMP waits for the live video (see the module)

import streamlit as st  # noqa: E402

from ui.data_sources import sidebar_data_source  # noqa: E402

st.set_page_config(
    page_title="Letters & Faces: a deep-learning study",
    page_icon=str(Path(__file__).parent / "ui" / "icon.png"),  # served by the app: no request leaves the machine
    layout="wide",
)

navigation = st.navigation(
    {
        "Study": [
            st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
        ],
        "notMNIST": [
            st.Page("app_pages/samples.py", title="Samples", icon=":material/shuffle:"),
            st.Page("app_pages/train.py", title="Train or load models", icon=":material/model_training:"),
            st.Page("app_pages/notmnist_results.py", title="notMNIST results", icon=":material/bar_chart:"),
            st.Page("app_pages/explain.py", title="What they rely on", icon=":material/visibility:"),
        ],
        "Emotions": [
            st.Page("app_pages/freeze_comparison.py", title="Compare freeze depths", icon=":material/layers:"),
            st.Page("app_pages/webcam.py", title="Live emotions", icon=":material/videocam:"),
        ],
    }
)
sidebar_data_source()
navigation.run()
