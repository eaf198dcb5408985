"""The study: notMNIST seeds and their summary, the freeze-depth sweep, the README report and figures."""
