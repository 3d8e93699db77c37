"""The featurize stage on a full disk and on a stop part-way: one line naming the disk's shortage before any clip is
computed (not a SIGBUS from the memory-mapped arrays), and no data/features/*.tmp* left behind."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from emo.audio import featurize as featurize_module
from emo.audio import signal as audio
from emo.audio.featurize import featurize
from emo.core.errors import EmoError, reported
from emo.core.params import AudioParams, AugmentParams
from emo.core.ravdess import ActorSplit
from emo.data import augment
from emo.data.inventory import build
from project import REPO

ONE = AudioParams(sample_rate=16000, n_mels=32, n_mfcc=13, workers=1)
Usage = namedtuple("Usage", "total used free")
# A disk with 1 kB free, for a stage's process (shutil.disk_usage is all the room check asks).
FULL_DISK = ("import collections, shutil; "
             "shutil.disk_usage = lambda _: collections.namedtuple('U', 'total used free')(10**9, 10**9, 1000)")


@pytest.fixture(scope="module")
def rows(fixture_dataset):
    """The plan rows of two source clips of actor 1, re-indexed from 0."""
    planned = augment.plan([r for r in build(fixture_dataset, ActorSplit(val=(21,), test=(23,))) if r.actor == 1],
                           AugmentParams(), ONE)
    sources = sorted({r.path for r in planned})[:2]
    kept = [r for r in planned if r.path in sources]
    return [dataclasses.replace(r, index=i) for i, r in enumerate(kept)]


def _with_nan_clip(rows, folder: Path):
    """The rows with their first source clip replaced by one holding NaN samples."""
    nan = folder / Path(rows[0].path).name
    soundfile.write(nan, np.array([0.1, np.nan] * 30000, np.float32), 16000, subtype="FLOAT")
    return [dataclasses.replace(r, path=str(nan)) if r.path == rows[0].path else r for r in rows], str(nan)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_a_full_disk_is_one_line_before_any_clip_is_computed(rows, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(10**9, 10**9, 1000))
    computed = []
    monkeypatch.setattr(featurize_module, "clip_features", lambda job: computed.append(job))
    out = tmp_path / "features"
    with pytest.raises(SystemExit) as stop, reported():  # as the stage runs it
        featurize(rows, ONE, 0.035, out, progress=False)
    lines = capsys.readouterr().err.splitlines()
    assert stop.value.code == 1 and len(lines) == 1 and computed == []
    assert lines[0].startswith(f"error: disk full while writing {out}: ")
    assert " MB needed, 0.0 MB free; free some space on that disk" in lines[0]
    assert list(out.iterdir()) == []


def test_blocks_that_cannot_be_reserved_stop_featurize_with_no_file_left(rows, tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(EmoError, match=f"disk full while writing {tmp_path / 'logmel.npy'}: .* MB needed"):
        featurize(rows, ONE, 0.035, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_clip_stops_featurize_leaving_the_old_outputs_and_no_temporary(rows, tmp_path):
    out = tmp_path / "features"
    featurize(rows, ONE, 0.035, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    damaged, nan = _with_nan_clip(rows, tmp_path)
    with pytest.raises(audio.DamagedAudioError, match="holds NaN or infinite samples"):
        featurize(damaged, ONE, 0.035, out, progress=False)
    assert _temporaries(out) == [] and {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(before) == ["logmel.npy", "mfcc.npy", "valid.npy"]


def test_ctrl_c_during_featurize_leaves_no_temporary(rows, tmp_path, monkeypatch):
    def interrupted(results, **_):
        yield next(iter(results))
        raise KeyboardInterrupt

    monkeypatch.setattr(featurize_module, "tqdm", interrupted)
    with pytest.raises(KeyboardInterrupt):
        featurize(rows, ONE, 0.035, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def _stage(project: Path, prelude: str = "") -> subprocess.CompletedProcess:
    """stages/featurize.py run in `project` as `dvc repro` runs it, after `prelude` (Python run first)."""
    code = f"{prelude}\nimport runpy; runpy.run_path({str(REPO / 'stages/featurize.py')!r}, run_name='__main__')"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def project(rows, tmp_path) -> Path:
    """A project folder holding params.yaml (2 workers) and a plan whose first clip holds NaN samples."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["audio"].update(front_end="window", sample_rate=16000, n_mels=32, n_mfcc=13, workers=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    damaged, _ = _with_nan_clip(rows, tmp_path)
    augment.write(damaged, tmp_path / "data/augment/plan.csv")
    return tmp_path


def test_the_stage_on_a_full_disk_exits_1_with_one_line_about_the_disk(project):
    done = _stage(project, FULL_DISK)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and errors[0].startswith("error: disk full while writing data/features: ")
    assert not (project / "data/features").exists() or list((project / "data/features").iterdir()) == []


def test_the_stage_stopped_by_a_damaged_clip_removes_its_temporaries(project):
    done = _stage(project)
    assert done.returncode == 1 and "holds NaN or infinite samples" in done.stderr, done.stderr
    assert list((project / "data/features").iterdir()) == []
