"""Model outputs `emo nested` keeps in its --work folder across runs and candidates: one npz file of arrays per
key, named by a digest of the key (what the arrays depend on), written through one rename so that a crash leaves
no half file to be read back as kept."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from emo.core.io import writing


def find(cache: Path | None, kind: str, key: dict) -> tuple[Path | None, dict[str, np.ndarray] | None]:
    """Where the arrays of `key` are kept under `cache`/`kind` (None without a cache), and them when they are
    (None too when the file no longer reads: truncated or overwritten, it is computed and kept again)."""
    if cache is None:
        return None, None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = cache / kind / f"{digest}.npz"
    if not path.is_file():
        return path, None
    try:
        with np.load(path) as kept:
            return path, {name: kept[name] for name in kept.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # damaged since it was written: made again
        return path, None


def keep(path: Path | None, **arrays: np.ndarray) -> None:
    """Write `arrays` where `find` said (nothing without a cache)."""
    if path is not None:
        with writing(path) as temporary, open(temporary, "wb") as out:
            np.savez(out, **arrays)
