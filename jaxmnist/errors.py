"""Errors a user can fix, reported as one line (exit status 2 from the CLIs)."""


class UsageError(ValueError):
    """A bad option, config value or input file; the message is one line."""


class DataError(RuntimeError):
    """The dataset could not be found, prepared or verified."""
