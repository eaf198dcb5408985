import streamlit as st

st.title("Letters & Faces: what do neural networks rely on?")
st.markdown(
    """
This app reproduces and extends a two-part deep-learning study.

**1 · notMNIST letters (A–J, 28×28).** A small CNN (two conv layers, max pooling, one dense layer) learns to
read letters in hundreds of fonts. Then every image is scrambled by one *fixed* random pixel permutation and the
same CNN is retrained: convolutions rely on neighbouring pixels, so they lose something. A fully connected
network (MLP) has no notion of neighbours at all, so the permutation should not matter to it. We measure both.

- **Samples**: the same letters, original and permuted, and the permutation itself.
- **Train or load models**: start a training run in the background and watch it live, or load a trained
  model and draw or upload a letter to classify.
- **notMNIST results**: the 2×2 comparison (CNN / MLP × original / permuted) with the study's numbers.

**2 · Facial emotions (FER-2013, 7 emotions, 48×48 faces).** ResNet-18 (or MobileNetV2) trained from scratch
versus fine-tuned from ImageNet weights with more and more of the network frozen.

- **Compare freeze depths**: accuracy with confidence intervals beside the study's numbers, training curves,
  confusion matrices and per-emotion F1 for every row of a sweep.
- **Live emotions**: your webcam, with each face boxed and its emotion read live; or a snapshot or a photo.

Data sources are set in the sidebar (or with the `NOTMNIST_DATA` and `FER_DATA` environment variables). Without a
network or a local copy, the notMNIST pages use a small sample bundled with the app, and the trained models that
ship with it still load and predict.
"""
)
