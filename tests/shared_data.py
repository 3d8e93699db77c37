"""Real data under ../shared: required in CI, skipped (never passed) elsewhere when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def require(path: Path, what: str) -> Path:
    """`path` if it exists; otherwise a failure under CI (which must run the real-data tests), else a skip."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must run the real-data tests ({what})")
        pytest.skip(f"{what} not found at {path}")
    return path
