"""The fix for a damaged clip of data/raw that fits where the data came from (`data.source`)."""

from __future__ import annotations

import os
from pathlib import Path

from emo.core.errors import EmoError
from emo.core.ravdess import RavdessNameError, parse_name
from emo.fetch.source import AUTO, resolve

REMOTE = ("http://", "https://")  # compared in lower case: URL schemes are case-insensitive


def _archive(path: str) -> str:
    """The Zenodo archive a RAVDESS clip was extracted from, or a description when the name does not parse."""
    from emo.fetch.download import archive_names  # only on an error: keeps requests out of the feature workers

    try:
        clip = parse_name(Path(path))
    except RavdessNameError:
        return "the archive that holds it"
    return archive_names(clip.part, [clip.actor])[0]


def advice(path: str, source: str | None, section: str) -> str:
    """How to replace a damaged clip, then how to leave it out instead (`section`: audio | video)."""
    skip = f"set {section}.skip_damaged: true to leave it out"
    if source == AUTO:  # in a stage, run in the project's root: what the download stage resolved it to (the
        # record number does not change the fix)
        try:
            source = resolve(source, record=1, root=Path.cwd(), environ=os.environ).source
        except EmoError:
            source = None
    if source is None:  # called outside the pipeline: the source is not known
        return f"fetch the data again, or {skip}"
    if source == "zenodo" or source.lower().startswith(REMOTE):
        return f"delete data/archives/{_archive(path)} and re-run (`dvc repro -f download`), or {skip}"
    return f"replace {Path(path).name} in the mirror {source}, then `dvc repro -f download`; or {skip}"
