"""The study's library: data, models, training, evaluation and inference. No Streamlit in here."""
