"""emo.core.io: an output is written whole or not at all, a failed write leaves no temporary behind, and a memory-mapped
output's room on disk is reserved before any work (a full disk: one line, not a SIGBUS)."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from emo.core import io
from emo.core.errors import EmoError, reported
from emo.learn import checkpoints
from emo.studies import crossfeatures

Usage = namedtuple("Usage", "total used free")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.mark.parametrize("stop", [ValueError("boom"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, stop):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(type(stop)), io.writing(target) as temporary:
        temporary.write_text("half of the new")
        raise stop
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []


def test_a_write_replaces_the_file_whole_and_numpy_adds_no_suffix(tmp_path):
    with io.writing(tmp_path / "deep/valid.npy") as temporary:
        np.save(temporary, np.arange(3))
    with io.writing(tmp_path / "deep/split.npz") as temporary:
        np.savez(temporary, a=np.arange(2))
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["split.npz", "valid.npy"]
    assert np.load(tmp_path / "deep/valid.npy").tolist() == [0, 1, 2]


def test_the_converted_writers_leave_no_temporary_when_they_fail(tmp_path):
    def records():
        yield {"a": 1}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_csv(tmp_path / "table.csv", ["a"], records())
    with pytest.raises(Exception, match="pickle|lambda"):
        checkpoints.save({"state": lambda: None}, tmp_path / "model.pt")  # torch.save fails half-way
    with pytest.raises(Exception, match="pickle|lambda"):
        crossfeatures.save_features({"x": np.arange(3), "bad": np.array([lambda: None], object)}, tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_is_still_written_whole(tmp_path):
    checkpoints.save({"runs": [1, 2]}, tmp_path / "models/a.pt")
    assert torch.load(tmp_path / "models/a.pt") == {"runs": [1, 2]} and _leftovers(tmp_path / "models") == []


def test_a_mapped_array_has_its_blocks_before_it_is_written(tmp_path):
    with io.mapped(tmp_path / "big.npy", dtype=np.float32, shape=(64, 1024)) as array:
        on_disk = tmp_path / "big.tmp.npy"
        # allocated now, not when the pages are written back: no SIGBUS if the disk fills meanwhile
        assert on_disk.stat().st_blocks * 512 >= on_disk.stat().st_size >= array.nbytes
        array[3] = 1.5
    saved = np.load(tmp_path / "big.npy")
    assert saved.shape == (64, 1024) and saved[3].min() == 1.5 and saved[4].max() == 0
    assert _leftovers(tmp_path) == []


def test_a_full_disk_is_refused_before_the_array_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(10**9, 10**9 - 2 * 10**6, 2 * 10**6))
    ran = []
    with pytest.raises(EmoError) as err, io.mapped(tmp_path / "crops.npy", dtype=np.uint8,
                                                            shape=(100, 32, 64, 64)):
        ran.append(True)
    assert str(err.value) == (f"disk full while writing {tmp_path / 'crops.npy'}: 13.1 MB needed, 2.0 MB free; free "
                              "some space on that disk (or move the project to a larger one), then run the stage again")
    assert ran == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk full"), (errno.EDQUOT, "disk quota exceeded")])
def test_blocks_that_cannot_be_reserved_are_one_line_and_no_file(tmp_path, monkeypatch, capsys, code, words):
    def full(fd, offset, length):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(SystemExit) as stop, reported(), io.mapped(tmp_path / "e.npy", dtype=np.float32,
                                                                   shape=(1000, 1000)):
        pytest.fail("the block ran on a disk without room for its array")
    lines = capsys.readouterr().err.splitlines()
    assert stop.value.code == 1 and len(lines) == 1
    assert lines[0].startswith(f"error: {words} while writing {tmp_path / 'e.npy'}: 4.0 MB needed, ")
    assert list(tmp_path.iterdir()) == []


def test_a_filesystem_that_cannot_reserve_still_gets_its_array(tmp_path, monkeypatch):
    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    with io.mapped(tmp_path / "e.npy", dtype=np.float32, shape=(4, 4)) as array:
        array[:] = 2
    assert np.load(tmp_path / "e.npy").sum() == 32 and _leftovers(tmp_path) == []
