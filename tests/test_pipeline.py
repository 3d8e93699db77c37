"""`dvc repro` end to end in a scratch copy of the project, on the generated dataset."""

import json

import pytest

from emo import inventory
from project import copy_project, dvc, git, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(fixture_dataset, tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project"))
    set_params(project, data={"source": str(fixture_dataset), "actors": [1, 2, 21, 23],
                              "parts": ["audio_speech", "video_speech"]})
    dvc(project, "repro")
    return project


def test_repro_fills_canonical_layout_inventory_and_metrics(project):
    rows = inventory.read(project / "data/inventory.csv")
    assert len(rows) == 480
    assert {r.split for r in rows if r.actor == 21} == {"val"} and {r.split for r in rows if r.actor == 23} == {"test"}
    assert all(3.5 < r.duration < 3.7 for r in rows)
    metrics = json.loads((project / "metrics/data.json").read_text())
    assert metrics["per_split"] == {"test": 120, "train": 240, "val": 120}
    assert metrics["per_part"] == {"audio_speech": 240, "video_speech": 240}
    assert (project / "dvc.lock").is_file()
    clip = project / "data/raw/video_speech/Actor_23/02-01-03-02-01-01-23.mp4"
    assert clip.stat().st_nlink == 2, "the workspace file should be a hardlink into the DVC cache, not a copy"


def test_second_repro_runs_nothing(project):
    result = dvc(project, "repro")
    assert "Running stage" not in result.stdout
    assert "up to date" in result.stdout.lower()


def test_changing_split_reruns_only_the_inventory(project):
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "after first repro")
    set_params(project, split={"val": [2], "test": [23]})
    status = dvc(project, "status", "--json").stdout
    assert json.loads(status).keys() == {"inventory"}
    result = dvc(project, "repro")
    assert "Running stage 'inventory'" in result.stdout and "Running stage 'download'" not in result.stdout
    metrics = json.loads((project / "metrics/data.json").read_text())
    assert metrics["per_split"] == {"test": 120, "train": 240, "val": 120}  # actor 2 now val, 21 train


def test_misspelt_param_from_exp_run_is_rejected(project):
    plain = dvc(project, "exp", "run", "-S", "data.sorce=elsewhere", check=False)
    assert plain.returncode != 0 and "data.sorce" in plain.stderr  # dvc itself refuses a new key...
    added = dvc(project, "exp", "run", "-S", "+data.sorce=elsewhere", check=False)  # ...unless told to add it
    output = added.stderr + added.stdout
    assert added.returncode != 0
    assert "unknown parameter(s) data.sorce" in output and "Valid keys: data.source" in output
    assert "Traceback" not in output
