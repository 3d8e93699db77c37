"""Small file helpers: outputs are written whole or not at all, and a failed write leaves nothing behind."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emo.core.errors import EmoError

#: The errno values of a write that found no room: the disk is full, or the user's quota is spent.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(EmoError):
    """An output that does not fit on its disk."""


def temporary_of(path: Path) -> Path:
    """The name `path` is written under until it is whole: beside it (one rename replaces it), its suffix kept last
    (numpy's save functions add theirs to a name without it)."""
    return path.with_name(f"{path.stem}.tmp{path.suffix}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 1e8 else f"{size / 1e6:,.0f} MB"


def disk_full(path: Path, needed: int, quota: bool = False) -> DiskFullError:
    """The error for an output that does not fit: the file (or folder), the room it needs and the room left."""
    free = shutil.disk_usage(path if path.is_dir() else path.parent).free
    what = "disk quota exceeded" if quota else "disk full"
    return DiskFullError(f"{what} while writing {path}: {_megabytes(needed)} needed, {_megabytes(free)} free; free "
                         "some space on that disk (or move the project to a larger one), then run the stage again")


def need_space(path: Path, needed: int) -> None:
    """Refuse to start writing `needed` bytes to `path` (a file, or a folder of outputs) when its disk has no room
    for them: better now than when the disk fills half-way through a stage."""
    folder = path if path.is_dir() else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if needed > shutil.disk_usage(folder).free:
        raise disk_full(path, needed)


def npy_bytes(dtype: Any, shape: tuple[int, ...]) -> int:
    """The size of an .npy file's data (its header adds about 128 bytes)."""
    import numpy as np

    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """The temporary path to write `path` through, its folder created: when the block ends it replaces `path` in
    one rename; when the block raises anything (Ctrl-C included) it is removed, so a failed write leaves neither
    half a file under the output's name nor a temporary beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_of(path)
    try:
        yield temporary
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def mapped(path: Path, *, dtype: Any, shape: tuple[int, ...]) -> Iterator[Any]:
    """A zero-filled .npy array for `path`, memory-mapped for writing in place (np.lib.format.open_memmap), written
    through a temporary as `writing` does and flushed when the block ends.

    Its disk blocks are reserved before the block runs: a mapped file starts sparse and takes its blocks only as
    pages are written back, and a page that finds the disk full kills the process with SIGBUS (signal 7: no
    exception, no word about the disk). A full disk is a DiskFullError here instead, before any work is done.
    """
    import numpy as np  # here, not at the top: the quick commands that write JSON must not load numpy

    with writing(path) as temporary:
        need_space(path, npy_bytes(dtype, shape))
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
        try:
            _reserve(temporary, path)
            yield array
            array.flush()
        finally:
            del array  # unmapped before the rename or the removal


def _reserve(temporary: Path, path: Path) -> None:
    """Allocate every block of a (sparse) file now, naming `path` when they do not fit."""
    size = temporary.stat().st_size
    if not hasattr(os, "posix_fallocate"):  # macOS: `need_space`'s check is all we have
        return
    descriptor = os.open(temporary, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as err:
        if err.errno in NO_ROOM:
            raise disk_full(path, size, quota=err.errno == errno.EDQUOT) from None
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise  # else a filesystem that cannot reserve blocks: `need_space`'s check is all we have
    finally:
        os.close(descriptor)


def write_json(path: Path, obj: Any) -> None:
    """Write pretty JSON through a temporary file, creating the folder."""
    with writing(path) as temporary:
        temporary.write_text(json.dumps(obj, indent=2) + "\n")


def write_csv(path: Path, columns: Sequence[str], records: Iterable[dict]) -> None:
    """Write dict records as CSV through a temporary file, creating the folder."""
    with writing(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(records)
