"""Errors a user can act on, and how entry points report them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class EmoError(Exception):
    """An error whose message says what is wrong and how to fix it; shown without a traceback."""


@contextmanager
def reported() -> Iterator[None]:
    """Turn an EmoError into one line on stderr (with its notes, e.g. the job it stopped: emo.core.executor) and
    exit status 1."""
    try:
        yield
    except EmoError as err:
        print(f"error: {err}" + "".join(f" ({note})" for note in getattr(err, "__notes__", [])), file=sys.stderr)
        sys.exit(1)
