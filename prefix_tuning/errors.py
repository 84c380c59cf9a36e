"""User-facing errors: one clear line, non-zero exit, no traceback."""

import functools
import sys


class UserError(Exception):
    """A mistake in the user's input or config (bad path, bad value, mismatched prefix file)."""


EXIT_USER_ERROR = 2


def exit_on_user_error(main):
    """Wrap a CLI entry point so a UserError prints `error: <message>` and exits with code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper
