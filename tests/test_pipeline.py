"""`dvc repro` end to end in a scratch copy of the project, on the generated dataset."""

import json
import os
import re
import subprocess

import numpy as np
import pytest
import yaml

from emo.core import metrics_detail
from emo.core.params import valid_keys
from emo.data import inventory
from emo.learn import ensemble, hybrid, predictions
from project import BIN, REPO, copy_project, dvc, git, set_params

pytestmark = pytest.mark.slow
MATRIX = [f"{feature}_{balance}" for feature in ("mfcc", "logmel") for balance in ("unbalanced", "balanced")]
BOTH = "audio_both_balanced"  # the default model, an ensemble of two of MATRIX's (emo.learn.ensemble)


@pytest.fixture(scope="module")
def project(fixture_dataset, tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("project"))
    set_params(project,
               data={"source": str(fixture_dataset), "actors": [1, 2, 21, 23],
                     "parts": ["audio_speech", "video_speech"]},
               # small features and few epochs keep this test quick; the stages are the real ones
               audio={"sample_rate": 16000, "n_mels": 32, "n_mfcc": 13},
               video={"run": ["video"], "frames": 16},  # the video branch's stages exist (dvc.yaml's matrix)
               train={"ours": {"max_epochs": 8}, "threads": 1, "seeds": [0]},
               corpora={"test": [], "train": ["ravdess"]})  # no other corpus (tests/test_crosscorpus.py makes one)
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
    metrics = metrics_detail.read(project / "metrics/data.json")
    assert metrics["per_split"] == {"test": 120, "train": 240, "val": 120}
    assert metrics["per_part"] == {"audio_speech": 240, "video_speech": 240}
    clip = project / "data/raw/video_speech/Actor_23/02-01-03-02-01-01-23.mp4"
    assert clip.stat().st_nlink == 2, "the workspace file should be a hardlink into the DVC cache, not a copy"


@pytest.mark.parametrize("name", MATRIX)
def test_every_audio_model_beats_chance_on_original_test_clips(project, name):
    metrics = metrics_detail.read(project / f"metrics/audio_{name}.json")
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
    metrics = metrics_detail.read(project / f"metrics/{name}.json")
    assert metrics["n_test"] == 60 and metrics["accuracy"] > 0.3 and metrics["uar"] > 0.3  # chance 0.125
    confusion = (project / f"plots/confusion/{name}.csv").read_text().splitlines()
    assert len(confusion) == 61 and (project / f"plots/confusion/{name}.png").exists()
    assert (project / f"plots/history/{name}.csv").exists()


def test_the_default_ensemble_fuses_its_members_predictions_run_by_run(project):
    metrics = metrics_detail.read(project / f"metrics/{BOTH}.json")
    logmel, mfcc, both = (predictions.read(project / f"predictions/{name}.csv")
                          for name in ("audio_logmel_balanced", "audio_mfcc_balanced", BOTH))
    runs = both.run != predictions.ENSEMBLE
    np.testing.assert_allclose(both.proba[runs], hybrid.fuse(logmel.proba[runs], mfcc.proba[runs], 0.5),
                               rtol=1e-6, atol=1e-9)
    test = runs & (both.split == "test")
    assert metrics["n_test"] == 60 and metrics["accuracy"] == pytest.approx(np.mean(both.predicted[test]
                                                                                    == both.label[test]))
    logmel_alone = metrics_detail.read(project / "metrics/audio_logmel_balanced.json")["accuracy"]
    assert metrics["gain_over_first_member"]["accuracy"]["difference"] == pytest.approx(metrics["accuracy"]
                                                                                         - logmel_alone)
    assert (project / f"plots/confusion/{BOTH}.png").stat().st_size > 10_000


def test_fusion_pairs_the_audio_and_video_of_each_performance(project):
    metrics = metrics_detail.read(project / "metrics/fusion.json")
    assert metrics["pairing"] == "clip" and metrics["audio_feature"] == "logmel" and "warning" not in metrics


def test_faces_are_found_counted_and_embedded(project):
    faces = metrics_detail.read(project / "metrics/faces.json")
    assert faces["clips"] == 240 and faces["detection_rate"] > 0.9 and faces["damaged"]["count"] == 0
    embedded = metrics_detail.read(project / "metrics/embed.json")
    assert embedded["rows_embedded"] == embedded["rows"] and embedded["embedder"] == "fer-minixception"


def test_features_have_the_planned_rows(project):
    augment = json.loads((project / "metrics/augment.json").read_text())
    featurize = metrics_detail.read(project / "metrics/featurize.json")
    planned = sum(sum(c.values()) for split in augment.values() for c in [split["balanced"]])
    assert featurize["rows"] == planned and featurize["damaged_clips"] == 0


def test_the_stages_compute_on_the_pinned_kernels(project):
    """Inside the featurize and train stages (and their worker processes) numpy, OpenBLAS and torch run their AVX2
    kernels at most (emo.core.pins), whatever this CPU offers."""
    import torch

    featurize = metrics_detail.read(project / "metrics/featurize.json")["kernels"]
    assert featurize["numpy"] in ("X86_V3", "baseline") and featurize["openblas"] in ("Haswell", "none")
    saved = torch.load(project / "models/audio_mfcc_balanced.pt", weights_only=True)
    assert saved["kernels"]["torch"] in ("AVX2", "DEFAULT") and saved["kernels"]["mkl_cbwr"] == "AVX2,STRICT"


def test_second_repro_runs_nothing(project):
    result = dvc(project, "repro")
    assert "Running stage" not in result.stdout
    assert "up to date" in result.stdout.lower()


def test_retraining_gives_identical_metrics(project):
    names = ("audio_mfcc_unbalanced", "audio_mfcc_balanced")  # train@mfcc trains both
    before = {name: metrics_detail.read(project / f"metrics/{name}.json") for name in names}
    dvc(project, "repro", "-f", "-s", "train@mfcc")
    for name in names:
        dvc(project, "repro", "-f", "-s", f"evaluate@{name.removeprefix('audio_').replace('_', '-')}")
    dvc(project, "repro", "-s", "crosscorpus")  # the re-saved checkpoints (new wall times) are its inputs too
    dvc(project, "repro", "ensemble", "release")  # and the MFCC member's (its metrics' seconds, its checkpoint)
    after = {name: metrics_detail.read(project / f"metrics/{name}.json") for name in names}
    for run in (*before.values(), *after.values()):  # wall time is the one thing allowed to differ
        run.pop("train_seconds")
        for seed in run["per_seed"]:
            seed.pop("train_seconds")
    assert after == before


def test_a_train_param_reruns_only_training_evaluation_the_reports_and_the_release(project, restore_params):
    set_params(project, train={"ours": {"lr": 0.003}})
    stale = json.loads(dvc(project, "status", "--json").stdout)
    trained = {"train@mfcc", "train@logmel", "video_train@video", "fusion_train@video"}  # both balances in one stage
    evaluated = {f"evaluate@{name.replace('_', '-')}" for name in MATRIX} | {
        "video_evaluate@video-unbalanced", "video_evaluate@video-balanced", "fusion_evaluate@video"}
    reports = {"report@video", "report_audio"}  # they print the parameters, so they declare them
    checked = {"params"}  # validates all of params.yaml; its output does not change, so it re-runs nothing else
    assert set(stale) == checked | trained | {"multicorpus"} | reports  # multicorpus trains models of the recipe too
    ran = set(re.findall(r"Running stage '([^']+)'", dvc(project, "repro").stdout))
    released = {"release"}  # the shipped model is rebuilt from the retrained default model
    computed = {"ensemble", "crosscorpus", "multicorpus", "calibrate"}
    assert ran == checked | trained | evaluated | computed | reports | released
    git(project, "checkout", "--", ".")
    dvc(project, "checkout", "-q")  # back to the committed models and metrics for the other tests


def test_changing_split_does_not_download_again(project, restore_params):
    set_params(project, split={"val": [2], "test": [23]})
    stale = json.loads(dvc(project, "status", "--json").stdout)
    assert "inventory" in stale and "download" not in stale


def test_misspelt_param_from_exp_run_is_rejected(project, restore_params):
    plain = dvc(project, "exp", "run", "-S", "data.sorce=elsewhere", check=False)
    assert plain.returncode != 0 and "data.sorce" in plain.stderr  # dvc itself refuses a new key...
    added = dvc(project, "exp", "run", "-S", "+data.sorce=elsewhere", check=False)  # ...unless told to add it
    output = added.stderr + added.stdout
    assert added.returncode != 0
    assert "unknown parameter(s) data.sorce" in output and "Valid keys: data.source" in output
    assert "Traceback" not in output


# Metric gate and experiments (`emo check-metrics`, `dvc exp run -S`).
FIXTURE_BASELINE = "tests/data/fixture_baseline.json"
# Valid keys that no computing stage declares, on purpose: they change speed only, never a number, so setting them
# must not re-run anything. (The report stages declare whole sections to print them; they do not count.)
UNTRACKED_KEYS = {
    "video.workers",  # processes for face detection: every clip is detected alone, so the crops never depend on it
    "video.run",  # which video stages exist (dvc.yaml's matrices take it), never what one of them computes
    "compute.scheduler",  # where jobs run (here or a Dask cluster), never what they compute: bit-identical results
}


def _emo(project, *args: str):
    """Run the venv's `emo` in the scratch project."""
    return subprocess.run([str(BIN / "emo"), *args], cwd=project, capture_output=True, text=True)


def test_fixture_metrics_pass_the_committed_metric_gate(project):
    baseline = str(REPO / FIXTURE_BASELINE)
    if os.environ.get("EMO_UPDATE_BASELINE"):  # after a deliberate change to the fixture pipeline (README)
        assert _emo(project, "check-metrics", "--write-baseline", baseline).returncode == 0
    result = _emo(project, "check-metrics", "--baseline", baseline)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tolerance 0.02 absolute" in result.stdout and "PASS" in result.stdout


def test_a_tampered_metric_fails_the_gate_naming_it(project):
    path = project / "metrics/audio_mfcc_balanced.json"
    original = path.read_text()
    before = json.loads((REPO / FIXTURE_BASELINE).read_text())["metrics/audio_mfcc_balanced.json"]["accuracy"]
    try:
        path.write_text(json.dumps(dict(json.loads(original), accuracy=before - 0.1)))
        result = _emo(project, "check-metrics", "--baseline", str(REPO / FIXTURE_BASELINE))
    finally:
        path.write_text(original)
    assert result.returncode == 1
    assert (f"FAIL metrics/audio_mfcc_balanced.json accuracy: baseline {before:.4f}, now {before - 0.1:.4f}, "
            "drop 0.1000 > tolerance 0.0200") in result.stdout
    assert _emo(project, "check-metrics", "--baseline", str(REPO / FIXTURE_BASELINE)).returncode == 0


def _declared_params() -> dict[str, set[str]]:
    """The params.yaml keys or whole sections each dvc.yaml stage declares."""
    declared = {}
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        # an entry is a key or section of params.yaml, or {file: [keys]}
        # (the params stage's `params.yaml:` tracks the whole file to validate it: it declares no key it computes with)
        entries = [e for entry in stage.get("params", [])
                   for e in ([entry] if isinstance(entry, str) else entry.get("params.yaml") or [])]
        declared[name] = set(entries)
    return declared


def _covers(entry: str, key: str) -> bool:
    """Whether a dvc.yaml params entry (a key or a section) tracks a dotted key."""
    return key == entry or key.startswith(entry + ".")


def test_every_documented_param_is_tracked_by_a_stage_that_uses_it():
    keys = valid_keys()
    declared = _declared_params()
    unknown = sorted(e for entries in declared.values() for e in entries if not any(_covers(e, k) for k in keys))
    assert unknown == [], "dvc.yaml declares params that params.yaml cannot hold"
    computing = [e for name, entries in declared.items() if not name.startswith("report") for e in entries]
    untracked = {k for k in keys if not any(_covers(e, k) for e in computing)}
    assert untracked == UNTRACKED_KEYS, "declare new keys in a stage of dvc.yaml, or explain them in UNTRACKED_KEYS"


def test_every_documented_param_is_in_params_yaml_so_exp_run_can_set_it():
    def holds(mapping: object, key: str) -> bool:
        head, _, rest = key.partition(".")
        return isinstance(mapping, dict) and head in mapping and (not rest or holds(mapping[head], rest))

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    # `dvc exp run -S key=value` refuses a key the file lacks (it would need `+key=value`)
    assert [k for k in valid_keys() if not holds(params, k)] == []


def _committed_workspace(project) -> None:
    """Back to the committed params, metrics and models."""
    git(project, "checkout", "--", ".")
    dvc(project, "checkout", "-q")


@pytest.fixture
def committed_workspace(project):
    _committed_workspace(project)  # a failed `dvc exp run` earlier leaves its params.yaml behind
    yield
    _committed_workspace(project)  # for the tests after this one


def test_exp_run_sets_a_param_and_exp_show_tabulates_it_with_the_metrics(project, committed_workspace):
    ran = dvc(project, "exp", "run", "-S", "train.ours.max_epochs=4", "evaluate@mfcc-unbalanced")
    assert set(re.findall(r"Running stage '([^']+)'", ran.stdout)) == {"params", "train@mfcc",
                                                                        "evaluate@mfcc-unbalanced"}
    lines = [line for line in dvc(project, "exp", "show", "--md").stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    for key in ("accuracy", "uar", "macro_f1"):
        assert f"metrics/audio_mfcc_unbalanced.json:{key}" in header
    epochs = header.index("train.ours.max_epochs")
    assert {"8", "4"} <= {row[epochs] for row in rows}  # the committed workspace and the experiment


def test_a_variant_runs_apart_from_the_workspace_and_fills_the_report(project):
    from emo.experiments import variants

    before = {p.name: p.read_bytes() for p in (project / "metrics").glob("audio_*.json")}
    written = variants.run(project, "paper", {"train": {"paper": {"max_epochs": 2}}})
    assert sorted(p.name for p in written) == sorted(f"{m}.json" for m in [*variants.AUDIO_MODELS, BOTH])
    for path in written:
        metrics = json.loads(path.read_text())
        architecture = ensemble.default(0.5).formula if path.stem == BOTH else "paper"  # the paper recipe's two rows
        assert (metrics["variant"], metrics["preset"], metrics["architecture"]) == ("paper", "paper", architecture)
        assert metrics["overrides"] == variants.overrides("paper", {"train": {"paper": {"max_epochs": 2}}}, project)
        assert metrics["overrides"]["audio"]["front_end"] == "window"  # the paper's features, not the default's
        assert metrics["n_test"] > 0 and metrics["protocol"] == "holdout" and len(metrics["per_seed"]) == 1
    assert before == {p.name: p.read_bytes() for p in (project / "metrics").glob("audio_*.json")}
    dvc(project, "repro", "--single-item", "--force", "report@video")
    row = next(line for line in (project / "reports/report.md").read_text().splitlines()
               if line.startswith("| MFCC, unbalanced"))
    paper = json.loads((project / "metrics/paper/audio_mfcc_unbalanced.json").read_text())
    assert row.startswith(f"| MFCC, unbalanced | 43 | {100 * paper['accuracy']:.1f} (seed 0) | ")


# Per-clip predictions (predictions/*.csv, committed: cache false) and the paired gate on them.
def _table(project, name: str):
    from emo.learn import predictions

    return predictions.read(project / f"predictions/{name}.csv")


@pytest.mark.parametrize("name", [f"audio_{m}" for m in MATRIX] + ["video_unbalanced", "video_balanced", "fusion"])
def test_predictions_hold_every_validation_and_test_clip_and_give_back_the_metrics(project, name):
    from emo.learn import predictions, uncertainty

    table = _table(project, name)
    metrics = metrics_detail.read(project / f"metrics/{name}.json")
    assert sorted(set(table.split)) == ["test", "val"] and set(table.fold) == {""}
    assert sorted(set(table.run)) == ["ensemble", "seed0"] and len(table) == 2 * (60 + 60)  # actor 21 / 23 originals
    assert {c[:3] for c in table.clip} == ({"02-"} if name.startswith("video") else {"03-"})  # the clips' file stems
    assert set(table.speaker[table.split == "test"]) == {"23"} and set(table.speaker[table.split == "val"]) == {"21"}
    _, labels, right, runs = predictions.runs_matrix(table, "test", name)
    assert runs == ["seed0"] and right.mean() == metrics["per_seed"][0]["accuracy"] == metrics["accuracy"]
    assert uncertainty.uar(right, labels) == pytest.approx(metrics["uar"])
    _, _, ensemble, _ = predictions.runs_matrix(table, "test", name, ensemble=True)
    assert ensemble.mean() == metrics.get("ensemble", metrics)["accuracy"]  # one seed: the ensemble is that seed
    low, high = metrics["accuracy_ci95"]
    assert 0 <= low <= metrics["accuracy"] <= high <= 1 and len(metrics["uar_ci95"]) == 2
    assert (project / f"predictions/{name}.csv").read_text() == predictions.to_csv(table)
    assert git_tracked(project, f"predictions/{name}.csv")


def git_tracked(project, path: str) -> bool:
    """Whether git holds `path` in the commit (cache: false outputs are committed, so `git show REV:path` works)."""
    return subprocess.run(["git", "cat-file", "-e", f"HEAD:{path}"], cwd=project).returncode == 0


def test_the_paired_gate_passes_the_committed_predictions_and_fails_a_deliberate_drop(project):
    import numpy as np

    from emo.learn import predictions

    result = _emo(project, "check-metrics", "--rev", "HEAD", "--paired")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: 8 model(s) compared" in result.stdout  # the seven trained models and the default ensemble
    path = project / "predictions/audio_mfcc_balanced.csv"
    original = path.read_text()
    table = predictions.read(path)
    right = predictions.correct(table) & (table.split == "test")
    clips = sorted(set(table.clip[right]))[::10]  # 10 % of the clips it got right, now wrong
    hit = right & np.isin(table.clip, clips)
    predicted = table.predicted.copy()
    predicted[hit] = np.where(table.label[hit] == "neutral", "calm", "neutral")
    try:
        predictions.write(path, predictions.Table(table.split, table.clip, table.speaker, table.label, table.fold,
                                                  table.run, predicted, table.proba))
        result = _emo(project, "check-metrics", "--rev", "HEAD", "--paired")
    finally:
        path.write_text(original)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("audio_mfcc_balanced:"))
    assert ": regression (" in line and "60 test clips, 1 vs 1 seeds" in line, line


def test_an_experiment_writes_predictions_its_ref_keeps_and_emo_compare_names_it(project, committed_workspace):
    from emo.learn import predictions

    def experiments() -> set[str]:  # refs/exps/<..>/<baseline commit>/<name>, besides dvc's own exec refs
        listed = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=project,
                                capture_output=True, text=True, check=True).stdout.split()
        return {ref for ref in listed if "/exec/" not in ref}

    before = experiments()
    dvc(project, "exp", "run", "-S", "train.seeds=[0,1]", "-S", "train.ours.max_epochs=4", "evaluate@mfcc-unbalanced")
    metrics = metrics_detail.read(project / "metrics/audio_mfcc_unbalanced.json")
    table = _table(project, "audio_mfcc_unbalanced")
    _, _, ensemble, _ = predictions.runs_matrix(table, "test", "m", ensemble=True)
    assert metrics["seeds"] == [0, 1] and ensemble.mean() == metrics["ensemble"]["accuracy"]
    low, high = metrics["ensemble"]["accuracy_ci95"]
    assert low <= metrics["ensemble"]["accuracy"] <= high
    (ref,) = experiments() - before
    kept = subprocess.run(["git", "show", f"{ref}:predictions/audio_mfcc_unbalanced.csv"], cwd=project,
                          capture_output=True, text=True).stdout
    assert kept == (project / "predictions/audio_mfcc_unbalanced.csv").read_text()
    compared = _emo(project, "compare", "HEAD", ref.rsplit("/", 1)[1])  # the experiment by its name
    assert compared.returncode == 0, compared.stderr
    line = next(x for x in compared.stdout.splitlines() if x.startswith("audio_mfcc_unbalanced:"))
    assert "1 vs 2 seeds" in line and "; UAR " in line
