"""Scratch copies of this project (a git repo of its own), for end-to-end `dvc` runs in tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `dvc exp run` commits; a machine with no git identity configured must still pass.
IDENTITY = {"GIT_AUTHOR_NAME": "emo-tests", "GIT_AUTHOR_EMAIL": "tests@emo.invalid",
            "GIT_COMMITTER_NAME": "emo-tests", "GIT_COMMITTER_EMAIL": "tests@emo.invalid"}


def copy_project(dest: Path) -> Path:
    """Copy the project's files (tracked and new, not ignored) into `dest`, committed in a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith(("data/", "metrics/")) and name != "dvc.lock":
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "scratch copy")
    return dest


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, env=dict(os.environ, **IDENTITY))


def set_params(project: Path, **sections: dict) -> None:
    """Overwrite keys of params.yaml, nested ones included, e.g. set_params(p, train={"ours": {"lr": 0.01}})."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    _merge(params, sections)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the venv's dvc in `project` with the venv first on PATH, as `make repro` does."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **IDENTITY)
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=project, env=env, capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"dvc {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
