"""`emo --help`, `emo targets` (run by `make repro`) and `emo check-metrics` (CI) start without importing the
numeric stack; their timing is bench/startup.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emo.cli import main
from project import REPO

HEAVY = ("torch", "sklearn", "librosa", "scipy", "numpy", "pandas", "matplotlib", "cv2", "soundfile", "dvc")
PROBE = """
import json, sys
from emo.cli import main
try:
    main(sys.argv[2:])
except SystemExit as stop:
    if stop.code:
        raise
print("LOADED " + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))),
      file=sys.stderr)
"""
METRICS = {"model": "audio_mfcc_unbalanced", "accuracy": 0.6, "uar": 0.55, "macro_f1": 0.5}


def loaded(cwd: Path, *args: str) -> list[str]:
    """The HEAVY top-level packages a fresh interpreter holds after `emo ARGS` (which must succeed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.rpartition("LOADED ")[2])


@pytest.mark.parametrize("args", [["--help"], ["targets"], ["check-metrics", "--write-baseline", "baseline.json"],
                                  ["check-metrics", "--baseline", "baseline.json"]], ids=" ".join)
def test_quick_commands_leave_the_numeric_stack_alone(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/audio_mfcc_unbalanced.json").write_text(json.dumps(METRICS))
    (tmp_path / "baseline.json").write_text(json.dumps({"metrics/audio_mfcc_unbalanced.json": {
        key: METRICS[key] for key in ("accuracy", "uar", "macro_f1")}}))
    assert loaded(tmp_path, *args) == []


@pytest.mark.parametrize(("command", "shown"), [("check-metrics", "--tolerance"), ("variant", "{paper,emobox}"),
                                                ("nested", "--candidates")])
def test_commands_whose_arguments_load_lazily_still_show_them(capsys, command: str, shown: str) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and shown in capsys.readouterr().out


def test_predicting_one_file_with_the_shipped_model_loads_no_librosa(tmp_path: Path) -> None:
    """librosa.feature alone takes 1.5 s to import (scipy.signal, scipy.stats, numba): `emo predict one.wav` must do
    without it to start within bench/predict_speed.py's 2 s."""
    import numpy as np
    import soundfile

    times = np.arange(48000) / 48000
    soundfile.write(tmp_path / "one.wav", (0.3 * np.sin(2 * np.pi * 180 * times)).astype(np.float32), 48000)
    probe = PROBE.replace('{m.split(".")[0] for m in sys.modules}', "set(sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    slow = "librosa,numba,sklearn,scipy.signal,scipy.stats,audiomentations,torchvision"
    done = subprocess.run([sys.executable, "-c", probe, slow, "predict", "one.wav"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.rpartition("LOADED ")[2]) == []
