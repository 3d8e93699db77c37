"""Errors a user can act on, and how entry points report them."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from emo.core.text import printable


class EmoError(Exception):
    """An error whose message says what is wrong and how to fix it; shown without a traceback."""


class DamagedFileError(EmoError):
    """A data file (audio, video) that cannot be used. `problem` is the message without the file name and the
    fix, for callers that word the fix themselves."""

    def __init__(self, message: str, problem: str = ""):
        super().__init__(message)
        self.problem = problem or message


@contextmanager
def reported() -> Iterator[None]:
    """Turn an EmoError into one line on stderr (with its notes, e.g. the job it stopped: emo.core.executor) and
    exit status 1. Control characters from names in the message are escaped; the message's own line breaks
    stay (a list of damaged clips). A full disk met by any write (not only the arrays that check their room first:
    emo.core.io.mapped) is one line too, not a traceback."""
    try:
        yield
    except EmoError as err:
        message = f"error: {err}" + "".join(f" ({note})" for note in getattr(err, "__notes__", []))
        print(printable(message, keep="\n"), file=sys.stderr)
        sys.exit(1)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" while writing {err.filename}" if err.filename else ""
        print(printable(f"error: {err.strerror or 'no space left on device'}{where}; free some space on that disk "
                        "(or move the project to a larger one), then run the command again"), file=sys.stderr)
        sys.exit(1)
