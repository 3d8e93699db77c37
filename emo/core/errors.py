"""Errors a user can act on, and how entry points report them."""

from __future__ import annotations

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
    stay (a list of damaged clips)."""
    try:
        yield
    except EmoError as err:
        message = f"error: {err}" + "".join(f" ({note})" for note in getattr(err, "__notes__", []))
        print(printable(message, keep="\n"), file=sys.stderr)
        sys.exit(1)
