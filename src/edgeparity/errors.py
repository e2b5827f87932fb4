"""Exit codes and the errors a user can fix. Imports nothing of edgeparity's: every layer may
import it, so it sits at the bottom of the import graph.

Runs inside every environment (CPython 3.6): no dataclasses, no third-party imports.
"""

# Exit codes, everywhere (README, CI, `make matrix`):
EXIT_PARITY = 0  # every compared stage agrees
EXIT_DIVERGENCE = 1  # a divergence was found
EXIT_ERROR = 2  # usage or environment error, or parity could not be established
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM, like a shell
EXIT_READER_LEFT = 141  # stdout's/stderr's reader left (`| head`): a shell's SIGPIPE code


class UserError(Exception):
    """A problem the user can fix: printed as one line without a traceback, exit code 2.

    The message says what happened, which file, and what to do next.
    """


class UsageError(UserError):
    """A bad command line or option value."""
