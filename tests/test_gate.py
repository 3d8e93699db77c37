"""`emo check-metrics` on synthetic metrics folders and a throwaway git repo, and the CI workflow's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from emo import gate
from emo.cli import main
from project import REPO, git

AUDIO = {"model": "audio_mfcc_unbalanced", "accuracy": 0.6, "uar": 0.55, "macro_f1": 0.5, "train_seconds": 240.0,
         "recall": {"neutral": 0.25, "calm": 0.75}, "per_seed": [{"accuracy": 0.6}], "n_test": 120}


def write_metrics(folder: Path, **files: dict) -> None:
    """Write metrics/<name>.json files under `folder`."""
    (folder / "metrics").mkdir(parents=True, exist_ok=True)
    for name, doc in files.items():
        (folder / "metrics" / f"{name}.json").write_text(json.dumps(doc))


def check(*args: str) -> tuple[int, str]:
    """Run `emo check-metrics ARGS` in the current directory: exit status and printed output."""
    try:
        main(["check-metrics", *args])
    except SystemExit as stop:
        return (stop.code if isinstance(stop.code, int) else 1), str(stop.code if stop.code else "")
    return 0, ""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with metrics/audio.json and metrics/data.json, and a baseline file of the same values."""
    monkeypatch.chdir(tmp_path)
    write_metrics(tmp_path, audio=AUDIO, data={"clips": 1440})
    assert check("--write-baseline", "baseline.json")[0] == 0
    return tmp_path


def test_write_baseline_keeps_only_numeric_gated_keys(workspace, capsys):
    assert check("--write-baseline", "sub/again.json") == (0, "")
    assert "wrote sub/again.json: 3 values of 2 files" in capsys.readouterr().out
    assert json.loads((workspace / "sub/again.json").read_text()) == {
        "metrics/audio.json": {"accuracy": 0.6, "macro_f1": 0.5, "uar": 0.55}, "metrics/data.json": {}}


def test_unchanged_metrics_pass_and_the_output_states_the_tolerance(workspace, capsys):
    assert check("--baseline", "baseline.json") == (0, "")
    out = capsys.readouterr().out
    assert "tolerance 0.02 absolute" in out and "keys accuracy, uar, macro_f1" in out
    assert "PASS: 3 gated value(s) in 2 baseline file(s)" in out
    assert "metrics/audio.json  accuracy  0.6000    0.6000  +0.0000  ok" in out
    assert "train_seconds" not in out and "model" not in out  # wall-clock and non-numeric keys never appear


def test_a_drop_beyond_the_tolerance_fails_naming_the_metric(workspace, capsys):
    write_metrics(workspace, audio=dict(AUDIO, uar=0.5, accuracy=0.59, train_seconds=9999.0))
    status, _ = check("--baseline", "baseline.json")
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL metrics/audio.json uar: baseline 0.5500, now 0.5000, drop 0.0500 > tolerance 0.0200" in out
    assert "accuracy" in out and "FAIL metrics/audio.json accuracy" not in out  # 0.01 is within 0.02
    assert "FAIL: 1 problem(s)" in out


def test_a_drop_of_exactly_the_tolerance_passes_and_a_larger_tolerance_forgives(workspace, capsys):
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.58))  # 0.6 - 0.58 is 0.020000000000000018 in floats
    assert check("--baseline", "baseline.json")[0] == 0
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.5))
    assert check("--baseline", "baseline.json")[0] == 1
    assert check("--baseline", "baseline.json", "--tolerance", "0.1")[0] == 0
    assert check("--baseline", "baseline.json", "--tolerance", "0.1", "--relative")[0] == 1  # 0.1 > 0.1 * 0.6
    assert "tolerance 0.1 relative" in capsys.readouterr().out


def test_improvements_pass(workspace):
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.9, uar=0.9, macro_f1=0.9))
    assert check("--baseline", "baseline.json")[0] == 0


def test_a_missing_file_fails_and_a_new_file_is_listed_only(workspace, capsys):
    (workspace / "metrics/data.json").unlink()
    write_metrics(workspace, video={"accuracy": 0.4}, faces={"clips": 240})
    status, _ = check("--baseline", "baseline.json")
    out = capsys.readouterr().out
    assert status == 1 and "FAIL metrics/data.json: in the baseline but missing now" in out
    assert "new, not gated: metrics/faces.json, metrics/video.json" in out
    assert "FAIL metrics/video" not in out


@pytest.mark.parametrize("value", [None, "n/a", float("nan"), True])
def test_a_gated_metric_that_vanishes_or_stops_being_a_number_fails(workspace, capsys, value):
    doc = {k: v for k, v in AUDIO.items() if k != "uar"} if value is None else dict(AUDIO, uar=value)
    write_metrics(workspace, audio=doc)
    assert check("--baseline", "baseline.json")[0] == 1
    assert "FAIL metrics/audio.json uar: baseline 0.5500, now missing or not a number" in capsys.readouterr().out


def test_wall_clock_keys_are_refused_and_nested_keys_can_be_gated(workspace, capsys):
    status, message = check("--baseline", "baseline.json", "--keys", "accuracy", "train_seconds")
    assert status == 1 and "train_seconds" in message and "never gated" in message
    assert check("--write-baseline", "nested.json", "--keys", "recall.neutral", "accuracy")[0] == 0
    write_metrics(workspace, audio=dict(AUDIO, recall={"neutral": 0.0, "calm": 1.0}))
    assert check("--baseline", "nested.json", "--keys", "recall.neutral", "accuracy")[0] == 1
    assert "FAIL metrics/audio.json recall.neutral: baseline 0.2500, now 0.0000" in capsys.readouterr().out


def test_baseline_values_that_are_not_numbers_or_are_timings_are_ignored(workspace):
    (workspace / "baseline.json").write_text(json.dumps(
        {"metrics/audio.json": {"accuracy": 0.6, "uar": "0.9", "train_seconds": 1.0, "macro_f1": None}}))
    write_metrics(workspace, audio=dict(AUDIO, uar=0.0, macro_f1=0.0, train_seconds=1e6))
    assert check("--baseline", "baseline.json")[0] == 0


def test_markdown_output_is_a_table(workspace, capsys):
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.3))
    assert check("--baseline", "baseline.json", "--md")[0] == 1
    lines = capsys.readouterr().out.splitlines()
    assert "| file | key | baseline | now | change | status |" in lines
    assert "|---|---|---:|---:|---:|---|" in lines
    assert "| metrics/audio.json | accuracy | 0.6000 | 0.3000 | -0.3000 | DROP |" in lines
    assert "- **FAIL metrics/audio.json accuracy: baseline 0.6000, now 0.3000, drop 0.3000 > tolerance 0.0200**" \
        in lines


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ("[1, 2]", "expected"),
                                           ("{}", "is empty")])
def test_a_bad_baseline_file_is_an_error_not_a_pass(workspace, capsys, text, message):
    (workspace / "baseline.json").write_text(text)
    assert check("--baseline", "baseline.json")[0] == 1
    assert message in capsys.readouterr().err


def test_a_missing_baseline_file_says_how_to_write_one(workspace, capsys):
    assert check("--baseline", "nowhere.json")[0] == 1
    assert "--write-baseline nowhere.json" in capsys.readouterr().err


def test_a_baseline_source_is_required(workspace, capsys):
    assert check()[0] == 2
    assert "one of the arguments --baseline --rev --write-baseline is required" in capsys.readouterr().err


@pytest.fixture
def repo(workspace):
    """The workspace as a git repo whose first commit holds the metrics."""
    git(workspace, "init", "-q")
    git(workspace, "add", "metrics")
    git(workspace, "commit", "-q", "-m", "metrics")
    git(workspace, "branch", "-M", "main")
    return workspace


def test_rev_reads_the_committed_metrics_as_the_baseline(repo, capsys):
    assert check("--rev", "main")[0] == 0
    assert "Metric gate against git revision main" in capsys.readouterr().out
    write_metrics(repo, audio=dict(AUDIO, macro_f1=0.4))
    assert check("--rev", "main")[0] == 1
    assert "FAIL metrics/audio.json macro_f1: baseline 0.5000, now 0.4000, drop 0.1000" in capsys.readouterr().out


def test_rev_compares_with_that_revision_not_with_the_latest_commit(repo, capsys):
    write_metrics(repo, audio=dict(AUDIO, accuracy=0.2))
    git(repo, "commit", "-q", "-am", "worse")
    assert check("--rev", "HEAD")[0] == 0
    assert check("--rev", "HEAD~1")[0] == 1


def test_rev_files_missing_now_fail(repo, capsys):
    (repo / "metrics/audio.json").unlink()
    assert check("--rev", "main")[0] == 1
    assert "FAIL metrics/audio.json: in the baseline but missing now" in capsys.readouterr().out


def test_an_unknown_rev_or_one_without_metrics_is_an_error(repo, capsys):
    assert check("--rev", "origin/main")[0] == 1
    assert "fetch-depth: 0" in capsys.readouterr().err
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-rq", "--cached", "metrics")
    git(repo, "commit", "-q", "--allow-empty", "-m", "no metrics")
    assert check("--rev", "empty")[0] == 1
    assert "no metrics/*.json committed at empty" in capsys.readouterr().err


def test_compare_rows_directly():
    rows = gate.compare({"m/a.json": {"accuracy": 0.5, "uar": 0.5}}, {"m/a.json": {"accuracy": 0.45, "uar": 0.49}})
    assert [(r.key, r.status) for r in rows] == [("accuracy", "drop"), ("uar", "ok")]
    assert rows[0].change == pytest.approx(-0.05) and rows[0].failed and not rows[1].failed


def test_the_committed_fixture_baseline_is_a_valid_baseline():
    baseline = gate.read_baseline(REPO / "tests/data/fixture_baseline.json")
    for name in ("audio_mfcc_unbalanced", "audio_mfcc_balanced", "audio_logmel_unbalanced", "audio_logmel_balanced"):
        assert set(baseline[f"metrics/{name}.json"]) == set(gate.GATED)
    assert all(0.3 < value <= 1.0 for values in baseline.values() for value in values.values())


def test_ci_workflow_runs_the_readme_commands_and_the_gates():
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers and "pull_request" in triggers
    runs = {job: "\n".join(step.get("run", "") for step in spec["steps"]) for job, spec in workflow["jobs"].items()}
    assert "make test" in runs["test"]
    repro = runs["repro"]
    assert "make repro SOURCE=zenodo" in repro
    assert "dvc metrics diff origin/main --md" in repro and "$GITHUB_STEP_SUMMARY" in repro
    assert "emo check-metrics --rev origin/main" in repro
    checkout = next(s for s in workflow["jobs"]["repro"]["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    assert (REPO / ".ci/run").read_text().strip().endswith("make test")  # local CI stays the README's command
