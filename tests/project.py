"""Scratch copies of this project for end-to-end `dvc` runs in tests and benchmarks (emo.experiments.scratch, bound to
this repository)."""

from __future__ import annotations

from pathlib import Path

from emo.experiments import scratch
from emo.experiments.scratch import BIN, IDENTITY, dvc, git, set_params  # noqa: F401  (the tests' names for them)

REPO = Path(__file__).resolve().parents[1]


def copy_project(dest: Path) -> Path:
    """Copy this project's files (tracked and new, not ignored) into `dest`, committed in a fresh git repo."""
    return scratch.copy_project(REPO, dest)
