"""Inference: the device and precision runtime, the letter classifier, and the face finder, tracker and
emotion detector. Needs no training code (nothing here imports core.engine)."""
