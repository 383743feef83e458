"""The one error type that vaekit raises for anything a user can fix.

Every message says what is wrong and what to do about it; the CLI prints it on
one line and exits with status 2, and notebooks show it as it is.
"""


class VaekitError(Exception):
    """A problem with the user's input, files or settings (not a bug in vaekit)."""


class DataError(VaekitError):
    """A data file is missing, truncated, altered or not in the expected format."""


class ConfigError(VaekitError):
    """A model or training configuration asks for something impossible."""


class CheckpointError(VaekitError):
    """A checkpoint cannot be read, or does not fit the model it is loaded into."""


class TrainingError(VaekitError):
    """Training cannot go on (a non-finite loss, for example)."""
