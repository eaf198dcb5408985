"""The same letters side by side, original and permuted, and the permutation itself."""

import numpy as np
import streamlit as st

from core.data.permutation import make_permutation, permute_pixels
from core.study.plots import displacement_heatmap, enlarge, montage, position_colours
from ui.data_sources import notmnist_split

st.title("Original and permuted samples")
st.caption(
    "One fixed random permutation of the 784 pixel positions is applied to every image. "
    "The letters stay fully recoverable (the permutation can be undone), but neighbouring pixels are no "
    "longer neighbours, which is what convolutions depend on."
)

controls = st.columns([1, 2, 1, 1])
seed = controls[0].number_input(
    "Permutation seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="samples_seed"
)
split = controls[3].selectbox("Split", ["test", "train"], key="samples_split")
data = notmnist_split(split)
letters = controls[1].multiselect("Letters", list(data.classes), default=list(data.classes), key="samples_letters")
per_letter = controls[2].slider("Images per letter", 1, 12, 6, key="samples_per_letter")

if not letters:
    st.info("Pick at least one letter.")
    st.stop()
perm = make_permutation(int(seed))
# The images shown do not depend on the permutation seed, so two permutations of the same letters can be compared.
rng = np.random.default_rng(0)
rows = []
for letter in letters:
    idx = np.flatnonzero(data.labels.numpy() == data.classes.index(letter))
    if len(idx):
        rows.append(rng.choice(idx, size=min(per_letter, len(idx)), replace=False))
if not rows:
    st.info("No images for these letters in this source.")
    st.stop()

chosen = np.concatenate(rows)
original = data.images[chosen]
permuted = permute_pixels(original, perm)
left, right = st.columns(2)
scale = 3
with left:
    st.subheader("Original")
    st.image(enlarge(montage(original[:, 0].numpy(), per_letter), scale), clamp=True)
with right:
    st.subheader(f"Permuted (seed {seed})")
    st.image(enlarge(montage(permuted[:, 0].numpy(), per_letter), scale), clamp=True)
shown_split = data.split if data.split == split else f"{data.split} (the bundled sample has no {split} images)"
st.caption(f"{len(chosen)} images from the {shown_split} split of `{data.source}`; each row is one letter.")

st.header("The permutation")
a, b, c = st.columns([1, 1, 2])
colours = position_colours()
with a:
    st.markdown("**Where each pixel is** (colour = position)")
    st.image(enlarge(colours, 8))
with b:
    st.markdown("**After the permutation**")
    scrambled = colours.reshape(-1, 3)[perm.numpy()].reshape(colours.shape)
    st.image(enlarge(scrambled, 8))
with c:
    st.plotly_chart(displacement_heatmap(perm.numpy()), width="stretch")
st.caption(
    "Output pixel *i* takes the value of input pixel `perm[i]`; hover the heatmap to see where each pixel "
    "came from. The same seed always gives the same permutation, and the seed is stored with every model."
)
