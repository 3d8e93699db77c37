"""`dvc repro` end to end in a scratch copy of the project, on the generated dataset."""

import json
import re

import pytest

from emo import inventory
from project import copy_project, dvc, git, set_params

pytestmark = pytest.mark.slow
MATRIX = [f"{feature}_{balance}" for feature in ("mfcc", "logmel") for balance in ("unbalanced", "balanced")]


@pytest.fixture(scope="module")
def project(fixture_dataset, tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project"))
    set_params(project,
               data={"source": str(fixture_dataset), "actors": [1, 2, 21, 23],
                     "parts": ["audio_speech", "video_speech"]},
               # small features and few epochs keep this test quick; the stages are the real ones
               audio={"sample_rate": 16000, "n_mels": 32, "n_mfcc": 13}, video={"frames": 16},
               train={"ours": {"max_epochs": 8}, "threads": 1, "seeds": [0]})
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "after the first repro")
    return project


@pytest.fixture
def restore_params(project):
    yield
    git(project, "checkout", "params.yaml")


def test_repro_fills_canonical_layout_inventory_and_metrics(project):
    rows = inventory.read(project / "data/inventory.csv")
    assert len(rows) == 480
    assert {r.split for r in rows if r.actor == 21} == {"val"} and {r.split for r in rows if r.actor == 23} == {"test"}
    assert all(3.5 < r.duration < 3.7 for r in rows)
    metrics = json.loads((project / "metrics/data.json").read_text())
    assert metrics["per_split"] == {"test": 120, "train": 240, "val": 120}
    assert metrics["per_part"] == {"audio_speech": 240, "video_speech": 240}
    clip = project / "data/raw/video_speech/Actor_23/02-01-03-02-01-01-23.mp4"
    assert clip.stat().st_nlink == 2, "the workspace file should be a hardlink into the DVC cache, not a copy"


@pytest.mark.parametrize("name", MATRIX)
def test_every_audio_model_beats_chance_on_original_test_clips(project, name):
    metrics = json.loads((project / f"metrics/audio_{name}.json").read_text())
    assert metrics["n_test"] == 60  # actor 23's original clips only
    assert metrics["accuracy"] > 0.3 and metrics["uar"] > 0.3  # chance is 0.125
    assert metrics["preset"] == "ours" and metrics["seeds"] == [0] and metrics["best_epoch"][0] >= 1
    assert set(metrics["recall"]) == {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    confusion = (project / f"plots/confusion/audio_{name}.csv").read_text().splitlines()
    assert confusion[0] == "actual,predicted" and len(confusion) == 61
    assert (project / f"plots/confusion/audio_{name}.png").stat().st_size > 10_000
    history = (project / f"plots/history/audio_{name}.csv").read_text().splitlines()
    assert history[0] == "epoch,train_loss,val_loss,train_acc,val_acc" and 2 <= len(history) <= 9


@pytest.mark.parametrize("name", ["video_unbalanced", "video_balanced", "fusion"])
def test_video_and_fusion_models_beat_chance_on_original_test_clips(project, name):
    metrics = json.loads((project / f"metrics/{name}.json").read_text())
    assert metrics["n_test"] == 60 and metrics["accuracy"] > 0.3 and metrics["uar"] > 0.3  # chance 0.125
    confusion = (project / f"plots/confusion/{name}.csv").read_text().splitlines()
    assert len(confusion) == 61 and (project / f"plots/confusion/{name}.png").exists()
    assert (project / f"plots/history/{name}.csv").exists()


def test_fusion_pairs_the_audio_and_video_of_each_performance(project):
    metrics = json.loads((project / "metrics/fusion.json").read_text())
    assert metrics["pairing"] == "clip" and metrics["audio_feature"] == "logmel" and "warning" not in metrics


def test_faces_are_found_counted_and_embedded(project):
    faces = json.loads((project / "metrics/faces.json").read_text())
    assert faces["clips"] == 240 and faces["detection_rate"] > 0.9 and faces["damaged"]["count"] == 0
    embedded = json.loads((project / "metrics/embed.json").read_text())
    assert embedded["rows_embedded"] == embedded["rows"] and embedded["embedder"] == "fer-minixception"


def test_features_have_the_planned_rows(project):
    augment = json.loads((project / "metrics/augment.json").read_text())
    featurize = json.loads((project / "metrics/featurize.json").read_text())
    planned = sum(sum(c.values()) for split in augment.values() for c in [split["balanced"]])
    assert featurize["rows"] == planned and featurize["damaged_clips"] == 0


def test_second_repro_runs_nothing(project):
    result = dvc(project, "repro")
    assert "Running stage" not in result.stdout
    assert "up to date" in result.stdout.lower()


def test_retraining_gives_identical_metrics(project):
    before = (project / "metrics/audio_mfcc_unbalanced.json").read_text()
    dvc(project, "repro", "-f", "-s", "train@mfcc-unbalanced")
    dvc(project, "repro", "-f", "-s", "evaluate@mfcc-unbalanced")
    after = json.loads((project / "metrics/audio_mfcc_unbalanced.json").read_text())
    before = json.loads(before)
    for run in (before, after):  # wall time is the one thing allowed to differ
        run.pop("train_seconds")
        for seed in run["per_seed"]:
            seed.pop("train_seconds")
    assert after == before


def test_a_train_param_reruns_only_training_and_evaluation(project, restore_params):
    set_params(project, train={"ours": {"max_epochs": 8, "lr": 0.002}, "threads": 1})
    stale = json.loads(dvc(project, "status", "--json").stdout)
    trained = {f"train@{name.replace('_', '-')}" for name in MATRIX} | {"video_train@unbalanced",
                                                                          "video_train@balanced", "fusion_train"}
    assert set(stale) == trained
    ran = set(re.findall(r"Running stage '([^']+)'", dvc(project, "repro").stdout))
    assert ran == trained | {stage.replace("train", "evaluate") for stage in trained}
    git(project, "checkout", "--", ".")
    dvc(project, "checkout", "-q")  # back to the committed models and metrics for the other tests


def test_changing_split_does_not_download_again(project, restore_params):
    set_params(project, split={"val": [2], "test": [23]})
    stale = json.loads(dvc(project, "status", "--json").stdout)
    assert "inventory" in stale and "download" not in stale


def test_misspelt_param_from_exp_run_is_rejected(project):
    plain = dvc(project, "exp", "run", "-S", "data.sorce=elsewhere", check=False)
    assert plain.returncode != 0 and "data.sorce" in plain.stderr  # dvc itself refuses a new key...
    added = dvc(project, "exp", "run", "-S", "+data.sorce=elsewhere", check=False)  # ...unless told to add it
    output = added.stderr + added.stdout
    assert added.returncode != 0
    assert "unknown parameter(s) data.sorce" in output and "Valid keys: data.source" in output
    assert "Traceback" not in output
