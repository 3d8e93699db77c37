"""DVC's own tools on the default (audio-only) params: no video stage generated, no warning about a metrics file or
plot that was never meant to exist, and each declared metrics file holding its headline numbers alone, the rest in
its detail file (emo.core.metrics_detail)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from emo.core import metrics_detail
from emo.data import inventory
from emo.learn import evaluate
from emo.predict import release
from emo.studies import calibration, multicorpus
from emo.vision import faces, video_features
from project import BIN, REPO, copy_project, dvc, set_params

#: The stages that exist with video.run: [video] only, as DVC names them.
VIDEO_STAGES = {"faces@video", "embed@video", "video_split@video-unbalanced", "video_split@video-balanced",
                "video_train@video", "video_evaluate@video-unbalanced", "video_evaluate@video-balanced",
                "fusion_train@video", "fusion_evaluate@video", "report@video"}
#: The most values a declared metrics file may hold: a row of `dvc metrics show` a reader takes in at a glance.
MOST_VALUES = 16


def stage_headline(script: str) -> tuple[str, ...]:
    """The HEADLINE a stage script declares (featurize, download: they assemble their metrics themselves)."""
    found = re.search(r"^HEADLINE = (\(.*?\))$", (REPO / "stages" / script).read_text(), re.M | re.S)
    assert found, f"stages/{script} declares no HEADLINE"
    return ast.literal_eval(found[1])


def normal(path: str) -> str:
    """A dvc.yaml path with its matrix items as X: metrics/audio_X_X.json."""
    return re.sub(r"\$\{item\.\w+\}", "X", path)


#: Each metrics file dvc.yaml declares (matrix items as X), with its writer's headline patterns; None: a writer that
#: keeps it small by itself (crosscorpus writes its own detail file; the optional peer's six numbers).
WRITERS = {"metrics/audio_X_X.json": evaluate.HEADLINE, "metrics/video_X.json": evaluate.HEADLINE,
           "metrics/fusion.json": evaluate.HEADLINE, "metrics/audio_both_balanced.json": evaluate.HEADLINE,
           "metrics/download.json": stage_headline("download.py"),
           "metrics/featurize.json": stage_headline("featurize.py"), "metrics/data.json": inventory.HEADLINE,
           "metrics/calibration.json": calibration.HEADLINE, "metrics/multicorpus.json": multicorpus.HEADLINE,
           "metrics/release.json": release.HEADLINE, "metrics/faces.json": faces.HEADLINE,
           "metrics/embed.json": video_features.HEADLINE, "metrics/crosscorpus.json": None, "metrics/peer.json": None}
#: The committed ones with a headline (our machines have no video), each by its name.
COMMITTED = {**{f"metrics/audio_{f}_{b}.json": evaluate.HEADLINE for f in ("mfcc", "logmel")
                for b in ("unbalanced", "balanced")},
             **{name: patterns for name, patterns in WRITERS.items() if patterns and "X" not in name
                and not name.startswith(("metrics/fusion", "metrics/faces", "metrics/embed"))}}


def leaves(doc: dict, prefix: str = "") -> dict[str, object]:
    """Every value of a nested mapping by its dotted key, as `dvc metrics show` makes its columns."""
    out: dict[str, object] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out |= leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def declared(stage: dict, kind: str) -> set[str]:
    """The paths a dvc.yaml stage lists under `metrics:` or `outs:`."""
    return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in stage.get(kind, [])}


def default_stages() -> dict[str, dict]:
    """dvc.yaml's stages that params.yaml's defaults generate: a matrix over an empty list generates none."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {name: stage for name, stage in stages.items()
            if not (stage.get("matrix", {}).get("part") == "${video.run}" and not params["video"]["run"])}


def test_split_and_merge_give_back_the_document():
    doc = {"model": "m", "accuracy": 0.5, "accuracy_std": 0.1, "accuracy_ci95": [0.4, 0.6], "seeds": [0, 1],
           "recall": {"calm": 0.5}, "ensemble": {"accuracy": 0.6, "recall": {"calm": 0.7}}, "notes": {}}
    headline, detail = metrics_detail.split(doc, evaluate.HEADLINE)
    assert headline == {"accuracy": 0.5, "accuracy_ci95": [0.4, 0.6], "ensemble": {"accuracy": 0.6}}
    assert detail == {"model": "m", "accuracy_std": 0.1, "seeds": [0, 1], "recall": {"calm": 0.5},
                      "ensemble": {"recall": {"calm": 0.7}}, "notes": {}}
    assert metrics_detail.merge(detail, headline) == doc
    assert metrics_detail.split({"device": "cpu", "n": 1}, ())[0] == {"device": "cpu"}  # whatever the writer's patterns
    assert metrics_detail.detail_path(Path("metrics/audio_mfcc_balanced.json")) == Path(
        "metrics/audio_mfcc_balanced_detail.json")


def test_read_merges_the_detail_file_and_reads_an_old_single_file(tmp_path):
    path = tmp_path / "metrics/x.json"
    doc = {"accuracy": 0.5, "train_seconds": 3.0, "per_seed": [{"seed": 0}]}
    metrics_detail.write(path, doc, ("accuracy",))
    assert json.loads(path.read_text()) == {"accuracy": 0.5} and metrics_detail.read(path) == doc
    metrics_detail.detail_path(path).unlink()  # as committed before the split: one file held everything
    path.write_text(json.dumps(doc))
    assert metrics_detail.read(path) == doc and metrics_detail.read(tmp_path / "absent.json") is None


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_each_declared_metrics_file_holds_a_few_numbers_and_its_detail_the_rest(name):
    """On the committed numbers (merged with their detail where the run wrote one), the writer's split: the
    declared file holds numbers only (a string or a flag is a column too), at most MOST_VALUES; nothing is lost."""
    whole = metrics_detail.read(REPO / name)
    headline, detail = metrics_detail.split(whole, COMMITTED[name])
    shown = {k: v for k, v in leaves(headline).items() if not isinstance(v, list)}  # DVC shows no list
    assert 0 < len(shown) <= MOST_VALUES, sorted(shown)
    words = [k for k, v in shown.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
    assert set(words) <= set(metrics_detail.ALWAYS), words  # the device alone may be a word
    assert metrics_detail.merge(detail, headline) == whole


def test_every_declared_metrics_file_has_a_writer_and_its_detail_is_a_plain_output():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    found = {normal(path): name for name, stage in stages.items() for path in declared(stage, "metrics")}
    assert set(found) == set(WRITERS), "give a new metrics file a HEADLINE (emo.core.metrics_detail), list it here"
    for path, name in found.items():
        if path == "metrics/peer.json":
            continue
        detail = metrics_detail.detail_path(Path(path)).as_posix()
        outs = {normal(next(iter(e))): next(iter(e.values())) for e in stages[name]["outs"] if isinstance(e, dict)}
        assert outs.get(detail) == {"cache": False}, (name, detail)  # in git, beside the metrics file


def test_the_default_params_generate_no_video_stage():
    stages = default_stages()
    assert not {"faces", "embed", "video_split", "video_train", "video_evaluate", "fusion_train", "fusion_evaluate",
                "report"} & set(stages)
    for name, stage in stages.items():  # nor does any stage left read what a video stage writes
        assert not [d for d in stage.get("deps", []) if re.search(r"/(video|fusion|faces)", d)], name


def test_the_stage_names_errors_give_are_the_names_dvc_generates():
    from emo.data import datasets

    named = {datasets.feature_stage("video"), datasets.split_stage("video", "balanced"),
             datasets.train_stage("video", "balanced"), datasets.train_stage("fusion", "")}
    assert named <= VIDEO_STAGES, named  # `dvc repro -f video_train` would be "stage not found"


def targets(project: Path) -> list[str]:
    """What `emo targets` (make repro) prints there."""
    done = subprocess.run([str(BIN / "emo"), "targets"], cwd=project, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_dvc_generates_the_video_stages_from_video_run_alone(tmp_path):
    project = copy_project(tmp_path / "project")
    shutil.copytree(REPO / "metrics", project / "metrics", dirs_exist_ok=True)  # the committed run's, as in a clone
    names = set(dvc(project, "stage", "list", "--name-only").stdout.split())
    assert not names & VIDEO_STAGES and not [n for n in names if "video" in n or "fusion" in n]
    assert set(targets(project)) == {"report_audio", "release"} <= names
    shown = dvc(project, "metrics", "show")
    plotted = dvc(project, "plots", "show", "-o", str(tmp_path / "plots"))
    for result in (shown, plotted):  # "DVC failed to load some metrics/plots": a video file that never exists
        assert "failed to load" not in result.stderr + result.stdout
        assert not re.search(r"/(video_|fusion|faces|embed)", result.stdout)
    set_params(project, data={"parts": ["audio_speech", "video_speech"]}, video={"run": ["video"]})
    with_video = set(dvc(project, "stage", "list", "--name-only").stdout.split())
    assert with_video - names == VIDEO_STAGES
    assert set(targets(project)) == {"report@video", "release"} <= with_video


@pytest.mark.parametrize("name", [f"metrics/audio_{f}_{b}.json" for f in ("mfcc", "logmel")
                                  for b in ("unbalanced", "balanced")] + ["metrics/release.json"])
def test_model_metrics_name_the_device_the_models_trained_on(name):
    """Issue 22: weights (so scores) depend on the device; its name sits in the declared file, one column."""
    headline = json.loads((REPO / name).read_text())
    assert headline["device"] == "cpu" or headline["device"].startswith("cuda"), headline.get("device")
