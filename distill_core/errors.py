"""One error type for input a user can fix.

The CLI turns it into a one-line message on stderr and exit code 2; the app shows it with
`st.error`. Anything else that escapes is an internal failure (exit code 1).
"""


class InputError(ValueError):
    """Bad input with a message written for the person who gave it (one line, says what to do)."""
