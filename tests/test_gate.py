"""`emo check-metrics` on synthetic metrics folders and a throwaway git repo, and the CI workflow's shape."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emo.cli import main
from emo.reporting import gate, metric_docs
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


def refused(capsys, *args: str) -> tuple[int, str]:
    """Run `emo check-metrics ARGS` expecting a refusal: exit status and the one error line (never a traceback)."""
    status, _ = check(*args)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status in (1, 2) and captured.out == "", captured
    if status == 1:  # an error of ours: one line
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
    else:  # argparse's usage, then its error line
        assert lines[-1].startswith("emo check-metrics: error: argument "), lines
    return status, lines[-1]


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


@pytest.mark.parametrize("value", [None, "n/a", float("nan"), float("inf"), 10**400, True])
def test_a_gated_metric_that_vanishes_or_stops_being_a_number_fails(workspace, capsys, value):
    doc = {k: v for k, v in AUDIO.items() if k != "uar"} if value is None else dict(AUDIO, uar=value)
    write_metrics(workspace, audio=doc)
    assert check("--baseline", "baseline.json")[0] == 1
    assert "FAIL metrics/audio.json uar: baseline 0.5500, now missing or not a number" in capsys.readouterr().out


def test_wall_clock_keys_are_refused_and_nested_keys_can_be_gated(workspace, capsys):
    status, message = refused(capsys, "--baseline", "baseline.json", "--keys", "accuracy", "train_seconds")
    assert status == 2 and "train_seconds" in message and "never gated" in message
    assert check("--write-baseline", "nested.json", "--keys", "recall.neutral", "accuracy")[0] == 0
    write_metrics(workspace, audio=dict(AUDIO, recall={"neutral": 0.0, "calm": 1.0}))
    assert check("--baseline", "nested.json", "--keys", "recall.neutral", "accuracy")[0] == 1
    assert "FAIL metrics/audio.json recall.neutral: baseline 0.2500, now 0.0000" in capsys.readouterr().out


def test_timings_in_a_baseline_are_ignored(workspace):
    (workspace / "baseline.json").write_text(json.dumps(
        {"metrics/audio.json": {"accuracy": 0.6, "uar": 0.55, "macro_f1": 0.5, "train_seconds": 1.0}}))
    write_metrics(workspace, audio=dict(AUDIO, train_seconds=1e6))
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


def test_markdown_escapes_a_bar_in_a_file_name(workspace, capsys):
    (workspace / "metrics/a|b.json").write_text(json.dumps(AUDIO))
    assert check("--write-baseline", "bar.json")[0] == 0
    assert check("--baseline", "bar.json", "--md")[0] == 0
    lines = capsys.readouterr().out.splitlines()
    assert "| metrics/a\\|b.json | accuracy | 0.6000 | 0.6000 | +0.0000 | ok |" in lines  # six cells, as every row


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ("[1, 2]", "expected"),
                                           ("{}", "is empty")])
def test_a_bad_baseline_file_is_an_error_not_a_pass(workspace, capsys, text, message):
    (workspace / "baseline.json").write_text(text)
    assert check("--baseline", "baseline.json")[0] == 1
    assert message in capsys.readouterr().err


def test_a_missing_baseline_file_says_how_to_write_one(workspace, capsys):
    assert refused(capsys, "--baseline", "nowhere.json") == (
        1, "error: baseline nowhere.json does not exist; give a baseline JSON file; "
        "`emo check-metrics --write-baseline FILE` writes one")


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
    baseline = metric_docs.read_baseline(REPO / "tests/data/fixture_baseline.json")
    for name in ("audio_mfcc_unbalanced", "audio_mfcc_balanced", "audio_logmel_unbalanced", "audio_logmel_balanced"):
        assert set(baseline[f"metrics/{name}.json"]) == set(metric_docs.GATED)
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


# Hostile input (issue 12): one clear line and a non-zero exit, never a traceback, never a pass by omission.
@pytest.mark.parametrize("relative", [(), ("--relative",)])
@pytest.mark.parametrize("value", ["nan", "-0.1", "inf", "1e999", "abc"])
def test_the_tolerance_must_be_a_finite_number_not_below_zero(workspace, capsys, value, relative):
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.45))  # a drop of 0.15, which NaN used to let through
    status, message = refused(capsys, "--baseline", "baseline.json", "--tolerance", value, *relative)
    assert status == 2 and f"argument --tolerance: '{value}' is not allowed: give a finite number >= 0" in message


def test_a_zero_tolerance_is_allowed(workspace):
    assert check("--baseline", "baseline.json", "--tolerance", "0")[0] == 0


@pytest.mark.parametrize("value, shown", [('"0.55"', '"0.55"'), ("NaN", "NaN"), ("Infinity", "Infinity"),
                                          ("true", "true"), ("null", "null"), ('{"mean": 0.55}', '{"mean": 0.55}'),
                                          ("1" + "0" * 400, "1" + "0" * 36 + "...")])
def test_a_baseline_value_that_is_not_a_finite_number_is_refused_naming_it(workspace, capsys, value, shown):
    (workspace / "baseline.json").write_text(f'{{"metrics/audio.json": {{"accuracy": 0.6, "uar": {value}}}}}')
    assert refused(capsys, "--baseline", "baseline.json") == (
        1, f"error: baseline baseline.json: metrics/audio.json uar is {shown}, not a finite number; write a number "
        "there, or rewrite the baseline with --write-baseline")


@pytest.mark.parametrize("doc, keys, absent", [
    ({"metrics/data.json": {}}, (), "accuracy, uar, macro_f1"),  # presence only: nothing is compared
    ({"metrics/audio.json": {"clips": 1440}}, (), "accuracy, uar, macro_f1"),
    ({"metrics/audio.json": {"accuracy": 0.6}}, (), "uar, macro_f1"),
    (None, ("--keys", "accuracy", "acuracy"), "acuracy"),  # a misspelt key
])
def test_a_baseline_without_a_number_for_some_key_is_refused(workspace, capsys, doc, keys, absent):
    if doc is not None:
        (workspace / "baseline.json").write_text(json.dumps(doc))
    status, message = refused(capsys, "--baseline", "baseline.json", *keys)
    assert status == 1 and f"error: baseline baseline.json has no number under {absent} in any file" in message


def test_rev_and_write_baseline_refuse_a_key_that_no_file_has(repo, capsys):
    status, message = refused(capsys, "--rev", "main", "--keys", "recall.angry")
    assert status == 1 and "error: git revision main has no number under recall.angry" in message
    status, message = refused(capsys, "--write-baseline", "new.json", "--keys", "recall.angry")
    assert status == 1 and "error: the metrics in metrics has no number under recall.angry" in message
    assert not (repo / "new.json").exists()


@pytest.mark.parametrize("content, problem", [
    (b"\x89PNG\r\n\x1a\n\x00\xff", "is not a UTF-8 text file (binary?)"),
    (b"", "is empty"),
    (b" \n", "is empty"),
    (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply to read"),
    (b'{"metrics/audio.json": {"accuracy": 0.6}, "metrics/audio.json": {"accuracy": 0.1}}',
     'is not valid JSON (the key "metrics/audio.json" appears twice)'),
    (b'{"metrics/audio.json": {"accuracy": 0.6, "accuracy": "x"}}', 'is not valid JSON (the key "accuracy" appears'),
    (b'{"metrics/audio.json": 0.6}', ": metrics/audio.json holds 0.6, expected {key: number}"),
    (b'"metrics"', ' holds "metrics", expected a JSON object'),
])
def test_an_unreadable_baseline_is_one_clear_error(workspace, capsys, content, problem):
    (workspace / "baseline.json").write_bytes(content)
    status, message = refused(capsys, "--baseline", "baseline.json")
    assert status == 1 and message.startswith(f"error: baseline baseline.json{'' if problem[0] in ': ' else ' '}")
    assert problem in message and "--write-baseline" in message


@pytest.mark.parametrize("path, problem", [
    ("metrics", "is a folder, not a file"), ("/dev/zero", "is a character device, not a regular file"),
    ("/dev/null", "is a character device, not a regular file"),
    ("baseline.json/x.json", "does not exist (a folder on its path is a file)"),
    ("loop.json", "is a symbolic link loop, not a file"),
    ("dangling.json", "is a symbolic link to gone.json, which does not exist"),
    ("zero.json", "is a symbolic link to /dev/zero, a character device, not a regular file")])
def test_a_baseline_path_that_is_not_a_readable_file_is_one_clear_error(workspace, capsys, path, problem):
    (workspace / "loop.json").symlink_to("loop.json")
    (workspace / "dangling.json").symlink_to("gone.json")
    (workspace / "zero.json").symlink_to("/dev/zero")
    assert refused(capsys, "--baseline", path) == (1, f"error: baseline {path} {problem}; give a baseline JSON "
                                                      "file; `emo check-metrics --write-baseline FILE` writes one")


@pytest.mark.parametrize("path, problem", [
    ("metrics", "--write-baseline metrics is a folder; give a file name, e.g. metrics/baseline.json"),
    ("sub/", "--write-baseline sub is a folder; give a file name, e.g. sub/baseline.json"),
    ("baseline.json/x.json", "--write-baseline baseline.json/x.json cannot be written: a folder on its path is a "
     "file; give another path"),
    ("metrics/audio.json", "--write-baseline metrics/audio.json is inside --metrics-dir metrics; write the baseline "
     "elsewhere"),
])
def test_write_baseline_refuses_a_folder_or_a_path_it_cannot_write(workspace, capsys, path, problem):
    (workspace / "sub").mkdir()
    before = {p: p.read_bytes() for p in workspace.rglob("*.json") if p.is_file()}
    status, message = refused(capsys, "--write-baseline", path)
    assert status == 1 and message.startswith(f"error: {problem}")
    assert {p: p.read_bytes() for p in workspace.rglob("*.json") if p.is_file()} == before


def test_write_baseline_replaces_the_file_in_one_step(workspace, capsys, monkeypatch):
    old = (workspace / "baseline.json").read_text()
    write_metrics(workspace, audio=dict(AUDIO, accuracy=0.1))

    def full_disk(_: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(metric_docs.os, "fsync", full_disk)
        assert refused(capsys, "--write-baseline", "baseline.json") == (
            1, "error: --write-baseline baseline.json cannot be written (No space left on device); give a writable "
            "file path")
    assert (workspace / "baseline.json").read_text() == old
    assert sorted(p.name for p in workspace.iterdir()) == ["baseline.json", "metrics"]  # no temporary file left
    assert check("--write-baseline", "baseline.json")[0] == 0
    assert json.loads((workspace / "baseline.json").read_text())["metrics/audio.json"]["accuracy"] == 0.1
    assert (workspace / "baseline.json").stat().st_mode & 0o777 == 0o644  # shareable, like any committed file


def test_a_rev_that_does_not_exist_says_so(repo, capsys):
    assert refused(capsys, "--rev", "nosuchrev") == (
        1, "error: --rev nosuchrev: no such revision in this git repo; check its name (git branch -a), or fetch it "
        "(git fetch origin; in CI, actions/checkout with fetch-depth: 0)")


def test_rev_outside_a_git_repo_or_without_git_says_so(workspace, capsys, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workspace.parent))
    status, message = refused(capsys, "--rev", "main")
    assert message.startswith("error: --rev main: the current folder is not in a git repository; run it in the "
                              "project's checkout, or use --baseline FILE (git: fatal: not a git repository")
    monkeypatch.setenv("PATH", str(workspace))  # no git on it
    assert refused(capsys, "--rev", "main") == (
        1, "error: --rev needs git, which cannot be run here (No such file or directory); install git, or use "
        "--baseline FILE")


@pytest.mark.parametrize("rev", ["--output=x", "-", "", " "])
def test_a_rev_that_git_would_read_as_an_option_is_a_usage_error(repo, capsys, rev):
    status, message = refused(capsys, f"--rev={rev}")
    assert status == 2 and f"argument --rev: {rev!r} is not a revision" in message


def test_a_committed_metrics_file_that_is_not_json_is_named(repo, capsys):
    (repo / "metrics/audio.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    git(repo, "commit", "-q", "-am", "broken")
    write_metrics(repo, audio=AUDIO)
    status, message = refused(capsys, "--rev", "HEAD")
    assert status == 1 and message.startswith("error: metrics file HEAD:metrics/audio.json is not a UTF-8 text file")


def test_a_copy_of_the_metrics_elsewhere_is_compared_file_by_file(workspace, capsys):
    copy = workspace / "elsewhere/run1"
    write_metrics(copy, audio=AUDIO, data={"clips": 1440})
    assert check("--baseline", "baseline.json", "--metrics-dir", str(copy / "metrics"))[0] == 0
    assert "PASS: 3 gated value(s) in 2 baseline file(s)" in capsys.readouterr().out
    write_metrics(copy, audio=dict(AUDIO, uar=0.3))
    assert check("--baseline", "baseline.json", "--metrics-dir", str(copy / "metrics"))[0] == 1
    out = capsys.readouterr().out
    assert "FAIL metrics/audio.json uar: baseline 0.5500, now 0.3000" in out and "missing" not in out


@pytest.mark.parametrize("folder, problem", [("nowhere", "does not exist"), ("empty", "holds no *.json files"),
                                             ("baseline.json", "is a file")])
@pytest.mark.parametrize("source", [("--baseline", "baseline.json"), ("--write-baseline", "new.json")])
def test_a_metrics_dir_that_does_not_exist_or_holds_no_json_is_an_error(workspace, capsys, folder, problem, source):
    (workspace / "empty").mkdir()
    (workspace / "empty/notes.txt").write_text("not metrics")
    assert refused(capsys, *source, "--metrics-dir", folder) == (
        1, f"error: --metrics-dir {folder} {problem}; run the pipeline first (make repro), or point --metrics-dir "
        "at the folder that holds the metrics JSON files")


@pytest.mark.parametrize("content, problem", [
    (b"{not json", "is not valid JSON (Expecting property name enclosed in double quotes"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "is not a UTF-8 text file (binary?)"),
    (b"", "is empty"),
    (b"[1, 2]", "holds [1, 2], expected a JSON object {...}"),
    (b'{"accuracy": ' + b"9" * 5000 + b"}", "is not valid JSON (Exceeds the limit"),
    (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply to read"),
])
def test_an_unreadable_metrics_file_is_one_clear_error_naming_it(workspace, capsys, content, problem):
    (workspace / "metrics/audio.json").write_bytes(content)
    status, message = refused(capsys, "--baseline", "baseline.json")
    assert status == 1 and message.startswith(f"error: metrics file metrics/audio.json {problem}")
    assert message.endswith("re-run the stage that writes it (make repro), or point --metrics-dir at a good copy")


def test_a_file_that_cannot_be_opened_says_why(workspace, capsys, monkeypatch):
    real_open = os.open

    def denied(path, *args, **kwargs):  # root reads a chmod 000 file, so the refusal is simulated
        if Path(path).name == "audio.json":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)  # emo.core.reading opens with os.open
    assert refused(capsys, "--baseline", "baseline.json") == (
        1, "error: metrics file metrics/audio.json cannot be read: permission denied; re-run the stage that writes "
        "it (make repro), or point --metrics-dir at a good copy")


def test_a_folder_named_like_a_metrics_file_is_named(workspace, capsys):
    (workspace / "metrics/extra.json").mkdir()
    status, message = refused(capsys, "--baseline", "baseline.json")
    assert status == 1 and message.startswith("error: metrics file metrics/extra.json is a folder, not a file")


def gate_process(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`emo check-metrics ARGS` in a child process, stopped after 30 s: a FIFO that blocks it fails the test
    instead of hanging the suite."""
    try:
        return subprocess.run([sys.executable, "-c", "from emo.cli import main; main()", "check-metrics", *args],
                              cwd=cwd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"emo check-metrics {' '.join(args)} blocked for 30 s")


PIPE = "is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("fifo, args, message", [
    ("pipe.json", ("--baseline", "pipe.json"), f"baseline pipe.json {PIPE}; give a baseline JSON file; `emo "
     "check-metrics --write-baseline FILE` writes one"),
    ("metrics/extra.json", ("--baseline", "baseline.json"), f"metrics file metrics/extra.json {PIPE}; re-run the "
     "stage that writes it (make repro), or point --metrics-dir at a good copy"),
    ("metrics/extra.json", ("--write-baseline", "new.json"), f"metrics file metrics/extra.json {PIPE}; re-run the "
     "stage that writes it (make repro), or point --metrics-dir at a good copy"),
])
def test_a_fifo_as_baseline_or_among_the_metrics_is_refused_without_blocking(workspace, fifo, args, message):
    os.mkfifo(workspace / fifo)
    done = gate_process(workspace, *args)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {message}\n")
    assert not (workspace / "new.json").exists()


def test_a_link_to_a_baseline_or_metrics_file_is_read(workspace, capsys):
    (workspace / "link.json").symlink_to("baseline.json")
    (workspace / "metrics/audio.json").rename(workspace / "audio.json")
    (workspace / "metrics/audio.json").symlink_to(workspace / "audio.json")
    assert check("--baseline", "link.json")[0] == 0
    assert "PASS: 3 gated value(s) in 2 baseline file(s)" in capsys.readouterr().out


@pytest.mark.parametrize("key", ["", "recall..neutral", ".accuracy", "accuracy.", " accuracy"])
def test_a_key_that_is_not_a_name_is_a_usage_error(workspace, capsys, key):
    status, message = refused(capsys, "--baseline", "baseline.json", "--keys", key)
    assert status == 2 and f"argument --keys: {key!r} is not a key" in message


def test_a_key_with_a_dot_in_its_name_is_gated_and_a_repeated_key_once(workspace, capsys):
    write_metrics(workspace, audio={"accuracy": 0.6, "f1.macro": 0.5})
    assert check("--write-baseline", "dotted.json", "--keys", "f1.macro", "f1.macro")[0] == 0
    assert "wrote dotted.json: 1 values of 2 files" in capsys.readouterr().out
    write_metrics(workspace, audio={"accuracy": 0.6, "f1.macro": 0.3})
    assert check("--baseline", "dotted.json", "--keys", "f1.macro")[0] == 1
    assert "FAIL metrics/audio.json f1.macro: baseline 0.5000, now 0.3000" in capsys.readouterr().out


@pytest.mark.parametrize("args", [("--baseline=",), ("--write-baseline=",), ("--baseline", "baseline.json",
                                                                               "--metrics-dir=")])
def test_an_empty_path_is_a_usage_error(workspace, capsys, args):
    status, message = refused(capsys, *args)
    assert status == 2 and "an empty path: give a file or folder name" in message


# The paired gate (`--paired`: emo.reporting.paired, tests/test_paired.py) beside the plain one.
def test_ci_runs_the_paired_gate_and_the_plain_one_only_before_main_has_predictions():
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    step = next(s for s in workflow["jobs"]["repro"]["steps"] if s.get("name", "").startswith("Metric gate"))
    assert "emo check-metrics --rev origin/main --paired --md" in step["run"]
    assert 'git ls-tree --name-only origin/main -- predictions' in step["run"]  # else: the plain gate


def test_paired_options_stay_out_of_the_plain_gate(workspace, capsys):
    assert refused(capsys, "--baseline-dir", "elsewhere") == (
        1, "error: --baseline-dir holds predictions, which only the paired gate reads: add --paired")
    assert refused(capsys, "--paired", "--baseline", "baseline.json")[1].startswith(
        "error: --paired compares per-clip predictions: give --rev REV or --baseline-dir DIR")
    assert refused(capsys, "--paired", "--baseline-dir", ".", "--relative")[1].startswith(
        "error: --keys and --relative belong to the plain gate")
    assert check("--baseline", "baseline.json", "--predictions-dir", "nowhere")[0] == 0  # the plain gate ignores it
