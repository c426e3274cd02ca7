"""The one exception type whose message reaches the user as a single line."""


class CrlError(Exception):
    """A problem the user can fix: the message names the problem and the fix, in one line."""


class EnvironmentFailure(CrlError):
    """An environment raised, or returned a non-finite state, mid-episode (the training loop adds where
    the run can resume from)."""
