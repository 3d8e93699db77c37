"""The real RAVDESS speech mirror (../shared/ravdess) through `dvc exp run -S data.source=...`."""

import csv
import hashlib

import pytest

from emo.core import metrics_detail
from project import copy_project, dvc, set_params

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture(scope="module")
def project(mirror, tmp_path_factory):
    """A scratch copy of the project whose data comes from the real mirror (downloaded, not yet trained)."""
    project = copy_project(tmp_path_factory.mktemp("real") / "project")
    dvc(project, "exp", "run", "-S", f"data.source={mirror}", "inventory")  # as `make repro SOURCE=...`
    return project


def test_pipeline_brings_all_1440_real_clips_intact(mirror, project):

    with open(mirror / "MANIFEST.tsv", newline="") as handle:
        manifest = {row["path"].rsplit("/", 1)[-1]: row["sha256"] for row in csv.DictReader(handle, delimiter="\t")}
    files = sorted((project / "data/raw/audio_speech").glob("Actor_*/*.flac"))
    assert len(manifest) == len(files) == 1440
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == manifest
    assert all(p.parent.name == f"Actor_{p.stem[-2:]}" for p in files)

    metrics = metrics_detail.read(project / "metrics/data.json")
    assert metrics["per_split"] == {"test": 120, "train": 1200, "val": 120}
    assert metrics["per_emotion"]["neutral"] == 96

    again = dvc(project, "repro", "inventory")
    assert "Running stage" not in again.stdout


def test_video_stages_on_speech_audio_alone_say_what_to_do(project):
    """On the speech audio alone no video stage exists (video.run: []); asking for them stops at the params check."""
    assert "faces" not in dvc(project, "stage", "list", "--name-only").stdout
    params = (project / "params.yaml").read_text()
    result = dvc(project, "exp", "run", "-S", "video.run=[video]", "params", check=False)
    (project / "params.yaml").write_text(params)  # a failed `dvc exp run` leaves its params.yaml behind
    assert result.returncode != 0
    assert "video.run: ['video'] runs the video branch, but data.parts has no video part" in result.stderr
    assert "Traceback" not in result.stderr


def test_real_speech_trains_an_mfcc_model_better_than_chance(project):
    """The audio stages on all 1440 real clips; three epochs keep it to a few minutes on two cores."""
    set_params(project, train={"ours": {"max_epochs": 3}, "seeds": [0]})
    dvc(project, "repro", "evaluate@mfcc-unbalanced")
    metrics = metrics_detail.read(project / "metrics/audio_mfcc_unbalanced.json")
    assert metrics["n_test"] == 120 and metrics["accuracy"] > 0.3  # chance is 0.125
    featurized = metrics_detail.read(project / "metrics/featurize.json")
    assert featurized.pop("kernels")["openblas"] in ("Haswell", "none")  # the pins hold on real data too
    assert featurized == {"rows": 5360, "source_clips": 1440, "damaged_clips": 0, "damaged": [],
                          "rows_left_out": 0, "rows_without_audio": 0, "short_clips": 0, "short": []}
