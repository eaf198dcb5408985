"""The user's errors: each is one sentence for a person (a bad file, flag or source), never a bug.

The CLI prints these as one line (exit 2) and the app shows them as one line; anything else is a bug and
keeps its traceback.
"""


class StudyError(Exception):
    """Base of every error a user can cause and fix; the message is one line that says what and why."""


class ConfigError(StudyError):
    """An experiment setting that cannot run (an unknown model, a value out of range, a bad combination)."""


class DataSourceError(StudyError):
    """A data source that cannot be read (a missing folder, an unreachable hub, an unknown class folder)."""


class ImageLoadError(StudyError):
    """A file or upload that cannot be used as an image."""


class CheckpointError(StudyError):
    """Not a valid checkpoint: no meta.json, a malformed field (named), or weights that do not fit."""


class WeightsUnavailable(StudyError):
    """Pretrained weights that cannot be had; the message says how to get them."""
