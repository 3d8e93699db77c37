"""Reading a file a user names (a baseline, a metrics or predictions file): only a regular file, or a link to one,
is ever opened, and at most a bound is read. A FIFO would block the command forever and a device could feed it
forever, so what the path is gets checked (os.stat) before it is opened."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from emo.core.errors import EmoError
from emo.core.text import echo

# What a path is when it is not a regular file (the words emo predict uses for its inputs, emo.predict.media).
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


class UnreadableFile(EmoError):
    """A file a user named that is not a regular file, or cannot be read."""


def _failure(err: OSError, path: Path) -> str:
    """Why stat or open failed, as the phrase after the path's name."""
    if err.errno == errno.ELOOP:
        return "is a symbolic link loop, not a file"
    if isinstance(err, FileNotFoundError):
        return f"is a symbolic link to {echo(os.readlink(path))}, which does not exist" if os.path.islink(path) \
            else "does not exist"
    known = {IsADirectoryError: "is a folder, not a file",
             NotADirectoryError: "does not exist (a folder on its path is a file)",
             PermissionError: "cannot be read: permission denied"}
    return known.get(type(err), f"cannot be read: {err.strerror or err}")


def _kind(mode: int, link: str = "") -> str | None:
    """None for a regular file, else what the mode says the path is (`link`: the link it was reached through)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"is {link}a folder, not a file"
    return f"is {link}{_KINDS.get(stat.S_IFMT(mode), 'something other than a file')}, not a regular file"


def not_regular(path: Path) -> str | None:
    """None when `path` is a regular file or a link to one, else what is wrong with it ('is a FIFO (named pipe),
    not a regular file', 'is a symbolic link to /dev/zero, a character device, not a regular file', 'is a
    symbolic link loop, not a file', 'does not exist'); never opens it."""
    try:
        link = f"a symbolic link to {echo(os.readlink(path))}, " if os.path.islink(path) else ""
        return _kind(os.stat(path).st_mode, link)
    except OSError as err:
        return _failure(err, path)


def read_regular(path: Path, *, limit: int, where: str, fix: str, kind: str,
                 error: type[EmoError] = UnreadableFile) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or `error`: `where`, what is wrong, then `fix`
    (`kind` names what the file should hold, in the message for a file over the bound)."""
    if problem := not_regular(path):
        raise error(f"{where} {problem}; {fix}")
    try:
        # O_NONBLOCK: a FIFO swapped in after the check still cannot block the open; fstat then refuses it.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise error(f"{where} {_failure(err, path)}; {fix}") from None
    with os.fdopen(handle, "rb") as file:
        if problem := _kind(os.fstat(file.fileno()).st_mode):
            raise error(f"{where} {problem}; {fix}")
        try:
            data = file.read(limit + 1)
        except OSError as err:
            raise error(f"{where} {_failure(err, path)}; {fix}") from None
    if len(data) > limit:
        raise error(f"{where} is larger than {limit // 2**20} MiB, far too large for {kind}; {fix}")
    return data
