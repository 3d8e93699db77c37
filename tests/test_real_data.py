"""The real RAVDESS speech mirror (../shared/ravdess) through `dvc exp run -S data.source=...`."""

import csv
import hashlib
import json

import pytest

from project import copy_project, dvc

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_pipeline_brings_all_1440_real_clips_intact(mirror, tmp_path):
    project = copy_project(tmp_path / "project")
    dvc(project, "exp", "run", "-S", f"data.source={mirror}")  # what `make repro SOURCE=...` runs

    with open(mirror / "MANIFEST.tsv", newline="") as handle:
        manifest = {row["path"].rsplit("/", 1)[-1]: row["sha256"] for row in csv.DictReader(handle, delimiter="\t")}
    files = sorted((project / "data/raw/audio_speech").glob("Actor_*/*.flac"))
    assert len(manifest) == len(files) == 1440
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == manifest
    assert all(p.parent.name == f"Actor_{p.stem[-2:]}" for p in files)

    metrics = json.loads((project / "metrics/data.json").read_text())
    assert metrics["per_split"] == {"test": 120, "train": 1200, "val": 120}
    assert metrics["per_emotion"]["neutral"] == 96

    again = dvc(project, "repro")
    assert "Running stage" not in again.stdout
