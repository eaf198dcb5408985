"""Training: the loop, evaluation, optimiser/scheduler/loss, resume state, callbacks and estimates."""
