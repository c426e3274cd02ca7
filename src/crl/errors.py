"""The one exception type whose message reaches the user as a single line."""


class CrlError(Exception):
    """A problem the user can fix: the message names the problem and the fix, in one line."""
