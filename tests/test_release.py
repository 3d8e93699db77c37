"""The shipped default model (issue 22): the `release` stage's file loads weights-only, regenerates bit for bit
from its inputs, predicts as the project's model does, scores the RAVDESS test actors as the committed metrics
say, and `emo predict --about` states the committed metrics/release.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from emo import cli
from emo.core import metrics_detail
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS, parse_name
from emo.learn import evaluate
from emo.predict import release, shipped
from emo.predict.jobs import PredictError
from emo.predict.model import DEFAULT_MODELS
from project import REPO
from shared_data import SHARED, require

FILE = REPO / release.SHIPPED
METRICS = metrics_detail.read(REPO / release.METRICS)
CLIPS = SHARED / "ravdess" / "Audio_Speech_Actors_01-24"


@pytest.fixture(scope="module")
def info() -> dict:
    return torch.load(FILE, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory, info) -> Path:
    """A project folder holding what the release stage reads, rebuilt from the shipped file: each member's
    checkpoint and split file, the temperature, params.yaml's audio and ensemble sections, and the committed
    metrics."""
    root = tmp_path_factory.mktemp("released")
    name = info["name"]
    (root / "models").mkdir()
    (root / "data/split").mkdir(parents=True)
    for member in info["members"]:
        torch.save(member["checkpoint"], root / "models" / f"{member['name']}.pt")
        np.savez(root / "data/split" / f"{member['feature']}_{member['checkpoint']['balance']}.npz",
                 **{k: v.numpy() if torch.is_tensor(v) else np.array(v) for k, v in member["split"].items()})
    (root / "models/calibration.json").write_text(json.dumps({"models": {name: {"temperature": info["temperature"]}}}))
    weights = {m["feature"]: m["weight"] for m in info["members"]}
    (root / "params.yaml").write_text(yaml.safe_dump({"audio": {**info["audio_params"], "workers": 1},
                                                      "ensemble": {"mfcc_weight": weights["mfcc"]}}))
    (root / "metrics").mkdir()
    for stem in (name, "crosscorpus_detail", "peer"):
        shutil.copy(REPO / "metrics" / f"{stem}.json", root / "metrics" / f"{stem}.json")
    own_detail = metrics_detail.detail_path(REPO / "metrics" / f"{name}.json")  # the seeds, the spreads
    if own_detail.is_file():  # committed metrics written before the detail files held it all in one file
        shutil.copy(own_detail, root / "metrics" / own_detail.name)
    return root


def test_the_shipped_file_is_small_weights_only_and_the_default_audio_model(info):
    # per member: the three CNNs about 1.7 MB, the hybrid's SVM about 5 MB (its support rows' functionals, exact)
    assert FILE.stat().st_size < 20e6 and all(len(m["checkpoint"]["svms"]) == 1 for m in info["members"])
    assert info["name"] == release.MODEL == DEFAULT_MODELS["audio"]
    assert [(m["name"], m["feature"], m["weight"]) for m in info["members"]] == [
        ("audio_logmel_balanced", "logmel", 1.0), ("audio_mfcc_balanced", "mfcc", 0.5)]
    assert info["format"] == release.FORMAT
    assert all(len(m["checkpoint"]["runs"]) == len(METRICS["seeds"]) for m in info["members"])
    assert info["training"]["train_actors"] == list(range(1, 21)) and info["training"]["test_actors"] == [23, 24]
    assert {"emo", "torch"} <= info["versions"].keys() and info["revision"]
    assert "workers" not in info["audio_params"]  # how a run goes, not what the model hears: not shipped


def test_the_scores_are_the_committed_metrics(info):
    own = metrics_detail.read(REPO / "metrics" / f"{release.MODEL}.json")
    assert release.metrics(info) == METRICS
    assert METRICS["ravdess"]["accuracy"] == own["accuracy"] and METRICS["ravdess"]["uar_ci95"] == own["uar_ci95"]
    assert METRICS["ravdess"]["ensemble"]["accuracy"] == own["ensemble"]["accuracy"]
    cross = json.loads((REPO / "metrics/crosscorpus_detail.json").read_text())[release.MODEL]["emodb"]
    assert METRICS["emodb"]["ensemble"]["accuracy_ci95"] == cross["ensemble"]["accuracy_ci95"]
    peer = json.loads((REPO / "metrics/peer.json").read_text())[release.PEER]
    assert METRICS["peer"]["emodb"]["accuracy"] == peer["emodb"]["accuracy"]


def test_the_stage_regenerates_the_shipped_file_bit_for_bit(project, info, tmp_path):
    built = release.build(project, load_params(project / "params.yaml"))
    assert built["revision"] == "unknown"  # not a git checkout: said, not failed
    built["revision"] = info["revision"]
    first, _ = release.write(tmp_path / "a", built)
    again = release.build(project, load_params(project / "params.yaml"))
    second, metrics = release.write(tmp_path / "b", again | {"revision": info["revision"]})
    assert first.read_bytes() == second.read_bytes() == FILE.read_bytes()
    assert metrics_detail.read(metrics) == METRICS  # the headline file and its detail, merged


def test_a_missing_input_is_named_with_the_fix(project, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(project, bare)
    (bare / "models/calibration.json").unlink()
    with pytest.raises(release.ReleaseError, match=r"models/calibration.json: no temperature for "
                       r"audio_both_balanced; run `dvc repro calibrate`$"):
        release.build(bare, load_params(bare / "params.yaml"))
    (bare / "metrics/crosscorpus_detail.json").unlink()
    with pytest.raises(release.ReleaseError, match="crosscorpus_detail.json: missing; run `dvc repro release`"):
        release.scores(bare)


def test_the_model_source_is_chosen_once(tmp_path):
    assert shipped.source(project="p", models=[], here=tmp_path) == Path("p")
    assert shipped.source(project=None, models=[], here=tmp_path) is None
    assert shipped.source(project=None, models=["audio_mfcc_balanced"], here=tmp_path) == tmp_path
    (tmp_path / "models").mkdir()
    assert shipped.source(project=None, models=[], here=tmp_path) is None  # an empty models/ is no project
    (tmp_path / "models/audio_logmel_balanced.pt").write_bytes(b"")
    assert shipped.source(project=None, models=[], here=tmp_path) == tmp_path


def test_a_damaged_shipped_file_says_to_reinstall(tmp_path):
    for data in (b"garbage", None):
        path = tmp_path / "default.pt"
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        with pytest.raises(PredictError, match=r"default.pt: .*reinstall emo"):
            shipped.load(path)


def test_about_states_the_committed_release_metrics(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "--about"]) == 0
    out = capsys.readouterr().out
    rav, emodb = METRICS["ravdess"], METRICS["emodb"]
    for entry in (rav, rav["ensemble"], emodb, emodb["ensemble"]):
        low, high = entry["accuracy_ci95"]
        assert f"accuracy {entry['accuracy']:.1%}".replace("%", " %") in out
        assert f"[{low:.1%}, {high:.1%}]".replace("%", "") in out
    assert f"± {rav['accuracy_std']:.1%}".replace("%", " %") in out
    assert f"accuracy {METRICS['peer']['emodb']['accuracy']:.1%}".replace("%", " %") in out
    assert "actors 1–20 train, 21, 22 validation, 23, 24 test" in out
    assert "CC BY-NC-SA 4.0" in out and "non-commercial" in out and "decision about a person" in out
    assert f"git {METRICS['revision']}" in out and f"emo {METRICS['versions']['emo']}" in out


def _results(argv: list[str], capsys) -> tuple[list[dict], str]:
    assert cli.main(["predict", "--json", *argv]) == 0
    out, err = capsys.readouterr()
    return json.loads(out)["results"], err


@pytest.mark.realdata
def test_the_shipped_model_predicts_as_the_project_model(project, capsys, monkeypatch, tmp_path):
    clips = sorted(require(CLIPS / "Actor_23", "the RAVDESS mirror").iterdir())[:10]  # own statistics: 8 clips up
    files = [str(c) for c in clips] + [str(sorted((CLIPS / "Actor_01").iterdir())[5])]  # and one alone: training's
    monkeypatch.chdir(tmp_path)  # no models/ here: the shipped model
    ours, err = _results(files, capsys)
    assert err.startswith("using the shipped default model (audio_both_balanced, emo ") and "--project DIR" in err
    theirs, err = _results(["--project", str(project), *files], capsys)
    assert "shipped" not in err
    assert [r["probabilities"] for r in ours] == [r["probabilities"] for r in theirs]
    assert [r["speaker_stats"] for r in ours] == [r["speaker_stats"] for r in theirs]
    assert ours[0]["calibration"] == {"temperature": METRICS["temperature"]}


@pytest.mark.realdata
def test_the_shipped_model_scores_the_test_actors_as_committed(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    folders = [str(require(CLIPS / f"Actor_{a}", "the RAVDESS mirror")) for a in METRICS["ravdess"]["test_actors"]]
    results, _ = _results(folders, capsys)
    assert len(results) == METRICS["ravdess"]["n_test"]
    right = [r["prediction"] == EMOTIONS[parse_name(Path(r["audio"]).name).emotion - 1] for r in results]
    assert np.mean(right) == pytest.approx(METRICS["ravdess"]["ensemble"]["accuracy"], abs=1e-12)


def test_the_revision_ignores_the_stages_own_outputs_but_not_other_changes(tmp_path):
    import subprocess

    from emo.predict import release

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    detail = metrics_detail.detail_path(release.METRICS)
    for path in (release.SHIPPED, release.METRICS, detail, "params.yaml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    git("add", "-A")
    git("commit", "-qm", "one")
    (tmp_path / release.SHIPPED).unlink()  # as `dvc repro -f release` does before the run
    (tmp_path / release.METRICS).write_text("y")
    (tmp_path / detail).write_text("y")  # its detail file is its own output too
    assert not release._revision(tmp_path).endswith("+dirty")
    (tmp_path / "params.yaml").write_text("z")
    assert release._revision(tmp_path).endswith("+dirty")


def test_without_the_optional_peer_or_emodb_the_release_states_neither(project, tmp_path):
    root = tmp_path / "no_peer"  # as the fixture pipeline has it: the peer (openSMILE) is not part of `dvc repro`
    shutil.copytree(project, root)
    (root / "metrics/peer.json").unlink()
    scores = release.scores(root)
    assert scores["peer"] == {"model": release.PEER}
    assert scores["ravdess"] == METRICS["ravdess"]
    (root / "metrics/crosscorpus_detail.json").write_text("{}")  # nor EmoDB: corpora.test empty
    scores = release.scores(root)
    assert "emodb" not in scores and scores["ravdess"] == METRICS["ravdess"]
    from emo.predict.shipped import score_lines

    assert [line for line in score_lines(scores) if "EmoDB" in line or "peer" in line] == []
    one_seed = metrics_detail.read(root / "metrics" / f"{release.MODEL}.json")
    del one_seed["ensemble"]  # a one-seed run (the fixture pipeline's) has no ensemble
    metrics_detail.write(root / "metrics" / f"{release.MODEL}.json", one_seed, evaluate.HEADLINE)
    scores = release.scores(root)
    assert "ensemble" not in scores["ravdess"] and scores["ravdess"]["accuracy"] == METRICS["ravdess"]["accuracy"]
    assert len(score_lines(scores)) == 1
