"""Shared fixtures: a generated RAVDESS-shaped dataset and a Zenodo-like HTTP server on 127.0.0.1."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from emo.core.ravdess import parse_name
from emo.data.fixtures import FixtureSpec, make_fixture
from emo.fetch.download import archive_names
from fake_zenodo import FIXTURE_ACTORS, FakeZenodo
from shared_data import SHARED, require

MIRROR = SHARED / "ravdess"


@pytest.fixture(scope="session")
def fixture_dataset(tmp_path_factory) -> Path:
    """A generated RAVDESS-shaped dataset (audio + video-only speech, actors 1, 2, 21, 23)."""
    out = tmp_path_factory.mktemp("fixture")
    make_fixture(out, FixtureSpec(actors=FIXTURE_ACTORS, parts=("audio_speech", "video_speech")))
    return out


@pytest.fixture(scope="session")
def zenodo_archives(fixture_dataset, tmp_path_factory) -> Path:
    """The fixture dataset packed the way Zenodo packs RAVDESS (`Actor_NN/<name>` inside each zip)."""
    folder = tmp_path_factory.mktemp("archives")
    members = defaultdict(list)
    for path in sorted(fixture_dataset.rglob("*.*")):
        clip = parse_name(path)
        (name,) = archive_names(clip.part, [clip.actor])
        members[name].append(path)
    for name, paths in members.items():
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_STORED) as bundle:
            for path in paths:
                bundle.write(path, f"{path.parent.name}/{path.name}")
    return folder


@pytest.fixture
def fake_zenodo(zenodo_archives):
    with FakeZenodo(zenodo_archives) as server:
        yield server


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real RAVDESS speech mirror; required in CI, skipped (never passed) elsewhere without it."""
    return require(MIRROR / "MANIFEST.tsv", "the real RAVDESS mirror").parent


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test models run faster on one thread than with two threads contending for two cores."""
    import torch

    torch.set_num_threads(1)
