"""The paired gate and `emo compare` (emo.reporting.paired): a deliberate drop is flagged, a reseed-like change is
not, and the commands end to end on a scratch git repo with two commits of predictions, hostile inputs included."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from emo.cli import main
from emo.core import git as git_cli
from emo.core.ravdess import EMOTIONS
from emo.learn import predictions
from emo.reporting import paired
from project import git

MODELS = ("audio_mfcc_unbalanced", "audio_mfcc_balanced", "audio_logmel_unbalanced", "audio_logmel_balanced")
N = 120  # RAVDESS test clips of the hold-out split (actors 23 and 24, originals)


def population(seed: int = 0, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """The test clips' true labels and how easy each clip is (the chance that a run gets it right)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 8, n), rng.beta(2.6, 1.4, n)  # mean accuracy 0.65


def run_rights(easy: np.ndarray, seeds: int, seed: int) -> np.ndarray:
    """Which clips each of `seeds` trained runs gets right: runs of one recipe agree on easy and hard clips."""
    return np.random.default_rng(seed).random((len(easy), seeds)) < easy[:, None]


def table(labels: np.ndarray, right: np.ndarray, split: str = "test") -> predictions.Table:
    """Prediction rows in which run r gets clip i right exactly where right[i, r]."""
    n = len(labels)
    blocks = []
    for r in range(right.shape[1]):
        guess = np.where(right[:, r], labels, (labels + 1 + r) % 8)
        proba = np.full((n, 8), 0.02)
        proba[np.arange(n), guess] = 0.86
        blocks.append(predictions.block(split=split, clips=[f"03-01-{i:04d}" for i in range(n)],
                                        speakers=[23 + i % 2 for i in range(n)], labels=np.array(EMOTIONS)[labels],
                                        run=predictions.run_name(r), proba=proba))
    return predictions.concat(blocks)


def side(tables: dict[str, predictions.Table]) -> paired.Side:
    return paired.Side("test", {model: (model, t) for model, t in tables.items()})


def flip(right: np.ndarray, share: float, seed: int = 1) -> np.ndarray:
    """`share` of the clips some run got right turned wrong in every run: a real regression."""
    rng = np.random.default_rng(seed)
    good = np.flatnonzero(right.any(axis=1))
    worse = right.copy()
    worse[rng.choice(good, int(round(share * len(good))), replace=False)] = False
    return worse


def test_a_deliberate_drop_is_a_regression_and_a_reseed_is_not():
    labels, easy = population()
    before = run_rights(easy, 3, seed=10)
    dropped = flip(before, 0.10)
    reseeded = run_rights(easy, 3, seed=11)  # the same recipe on other seeds: other clips right, same accuracy
    assert abs(reseeded.mean() - before.mean()) < 0.03 and (reseeded != before).mean() > 0.2
    outcomes = paired.compare(side({"a": table(labels, before), "b": table(labels, before)}),
                              side({"a": table(labels, dropped), "b": table(labels, reseeded)}), samples=2000, seed=0)
    (drop, reseed) = outcomes
    assert drop.status == "regression" and drop.failed
    assert drop.accuracy.difference == pytest.approx(dropped.mean() - before.mean())
    assert drop.accuracy.high < 0 and drop.accuracy.clips == N and drop.runs == (3, 3)
    assert reseed.status == "no significant change" and not reseed.failed
    assert reseed.accuracy.low < 0 < reseed.accuracy.high


def test_reseeds_rarely_raise_a_false_alarm():
    labels, easy = population(seed=3)
    before = table(labels, run_rights(easy, 3, seed=0))
    alarms = [paired.compare(side({"m": before}), side({"m": table(labels, run_rights(easy, 3, seed=s))}),
                             samples=1000, seed=0)[0].failed for s in range(1, 21)]
    assert sum(alarms) <= 2  # a 95 % interval, and only drops count


def test_a_significant_drop_within_the_tolerance_passes():
    labels, easy = population(n=6000)
    before = run_rights(easy, 1, seed=0)
    worse = flip(before, 0.012)  # 0.8 points over 6000 clips: clearly real, but under 1 point
    (outcome,) = paired.compare(side({"m": table(labels, before)}), side({"m": table(labels, worse)}), samples=500,
                                seed=0)
    assert outcome.accuracy.high < 0 and outcome.status == "significant drop within the tolerance"
    assert not outcome.failed
    (strict,) = paired.compare(side({"m": table(labels, before)}), side({"m": table(labels, worse)}), samples=500,
                               seed=0, tolerance=0.5)
    assert strict.status == "regression"


def test_only_shared_test_clips_count_and_a_missing_model_fails():
    labels, easy = population()
    right = run_rights(easy, 2, seed=0)
    full = table(labels, right)
    half = predictions.concat([table(labels[:60], right[:60]), table(labels, right, split="val")])
    outcomes = {o.model: o for o in paired.compare(side({"m": full, "gone": full}),
                                                   side({"m": half, "new": full}), samples=200, seed=0)}
    assert outcomes["m"].accuracy.clips == 60 and outcomes["m"].accuracy.difference == 0
    assert outcomes["gone"].status == "missing now" and outcomes["gone"].failed
    assert outcomes["new"].status == "new, not gated" and not outcomes["new"].failed
    other = predictions.concat([table(labels, right)]).where(np.zeros(2 * N, bool))
    (none,) = paired.compare(side({"m": full}), side({"m": other}), samples=200, seed=0)
    assert none.status == "no test clip in common" and none.failed


def test_lines_read_as_the_issue_asks():
    labels, easy = population()
    before = run_rights(easy, 3, seed=10)
    (outcome,) = paired.compare(side({"audio_logmel_balanced": table(labels, before)}),
                                side({"audio_logmel_balanced": table(labels, flip(before, 0.1))}), samples=2000,
                                seed=0)
    text = paired.line(outcome)
    assert text.startswith("audio_logmel_balanced: accuracy −") and " points, 95 % CI [−" in text
    assert "]: regression (" in text and "120 test clips, 3 vs 3 seeds, p " in text
    assert paired.points(0.0, sign=True) == "+0.0" and paired.points(-0.0004) == "0.0"


# End to end: `emo check-metrics --paired` and `emo compare` on a scratch git repo.

def run(*args: str) -> int:
    """`emo ARGS` in the current folder: its exit status."""
    try:
        main(list(args))
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def write_models(folder: Path, rights: dict[str, np.ndarray], labels: np.ndarray) -> None:
    for model, right in rights.items():
        predictions.write(folder / "predictions" / f"{model}.csv",
                          predictions.concat([table(labels, right), table(labels, right, split="val")]))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """Two commits of predictions/ for the four audio models: the first good, the second with one model 10 % worse
    and another reseeded; the working tree holds the second."""
    monkeypatch.chdir(tmp_path)
    labels, easy = population()
    good = {model: run_rights(easy, 3, seed=i) for i, model in enumerate(MODELS)}
    write_models(tmp_path, good, labels)
    (tmp_path / "predictions/crosscorpus").mkdir()  # not a model of the gate
    predictions.write(tmp_path / "predictions/crosscorpus/audio_mfcc_balanced_emodb.csv",
                      table(labels, good[MODELS[0]]))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "good")
    changed = dict(good, audio_logmel_balanced=flip(good["audio_logmel_balanced"], 0.1),
                   audio_mfcc_unbalanced=run_rights(easy, 3, seed=99))
    write_models(tmp_path, changed, labels)
    git(tmp_path, "commit", "-q", "-am", "worse")
    return tmp_path


def test_the_gate_fails_on_the_regression_and_names_it(repo, capsys):
    assert run("check-metrics", "--paired", "--rev", "HEAD") == 0
    out = capsys.readouterr().out
    assert out.startswith("Paired metric gate against git revision HEAD: per model, accuracy now minus then")
    assert "PASS: 4 model(s) compared" in out and "crosscorpus" not in out
    assert run("check-metrics", "--paired", "--rev", "HEAD~1") == 1
    out = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("audio_")}
    assert set(lines) == set(MODELS)
    assert "]: regression (" in lines["audio_logmel_balanced"]
    assert "no significant change" in lines["audio_mfcc_unbalanced"]  # reseeded
    assert "accuracy +0.0 points, 95 % CI [0.0, 0.0]: no significant change" in lines["audio_mfcc_balanced"]
    assert out.rstrip().endswith("FAIL: audio_logmel_balanced (regression)")
    assert run("check-metrics", "--paired", "--rev", "HEAD~1", "--tolerance", "50") == 0  # a drop of ~6 points
    assert run("check-metrics", "--paired", "--rev", "HEAD~1", "--md") == 1
    assert "- **audio_logmel_balanced: accuracy −" in capsys.readouterr().out


def test_the_gate_reads_a_baseline_copy_and_fails_on_a_missing_model(repo, tmp_path_factory, capsys):
    copy = tmp_path_factory.mktemp("copy")
    git(repo, "worktree", "add", "-q", str(copy / "old"), "HEAD~1")
    assert run("check-metrics", "--paired", "--baseline-dir", str(copy / "old")) == 1
    assert f"against --baseline-dir {copy / 'old'}: {copy / 'old' / 'predictions'}" in capsys.readouterr().out
    (repo / "predictions/audio_mfcc_balanced.csv").unlink()
    assert run("check-metrics", "--paired", "--rev", "HEAD") == 1
    assert "- " not in (out := capsys.readouterr().out) and "audio_mfcc_balanced: missing now" in out


def test_compare_prints_each_model_with_accuracy_and_uar_intervals(repo, capsys):
    assert run("compare", "HEAD~1", "HEAD") == 0
    out = capsys.readouterr().out
    assert out.startswith("HEAD minus HEAD~1, per model, on the test clips both sides scored")
    line = next(line for line in out.splitlines() if line.startswith("audio_logmel_balanced:"))
    assert "accuracy −" in line and "; UAR −" in line and ": significant drop (" in line
    assert run("compare", "HEAD~1") == 0  # the working tree
    assert "the working tree (predictions) minus HEAD~1" in capsys.readouterr().out


def test_compare_names_a_dvc_experiment_by_its_name(repo, capsys):
    """`dvc exp run` keeps an experiment as a ref refs/exps/<..>/<..>/<name> (`git for-each-ref refs/exps`)."""
    commit = git_cli.text(repo, "rev-parse", "HEAD~1")
    git(repo, "update-ref", "refs/exps/ab/cdef0123/bushy-tick", commit)
    assert run("compare", "bushy-tick", "HEAD") == 0
    assert "HEAD minus bushy-tick" in capsys.readouterr().out
    assert run("compare", "refs/exps/ab/cdef0123/bushy-tick", "HEAD") == 0
    git(repo, "update-ref", "refs/exps/cd/ef012345/bushy-tick", commit)
    assert run("compare", "bushy-tick", "HEAD") == 1
    assert "2 DVC experiments have this name; give one's full ref" in capsys.readouterr().err


def refused(capsys, *args: str) -> str:
    """The one error line of a refused command."""
    assert run(*args) in (1, 2)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and lines and "Traceback" not in captured.err, captured
    return lines[-1]


@pytest.mark.parametrize("args, message", [
    (("check-metrics", "--paired", "--rev", "nosuch"), "error: nosuch: no such revision or DVC experiment"),
    (("check-metrics", "--baseline-dir", "."), "error: --baseline-dir holds predictions, which only the paired gate "
     "reads: add --paired"),
    (("check-metrics", "--paired", "--baseline", "b.json"), "error: --paired compares per-clip predictions: give "
     "--rev REV or --baseline-dir DIR"),
    (("check-metrics", "--paired", "--rev", "HEAD", "--keys", "uar"), "error: --keys and --relative belong to the "
     "plain gate"),
    (("check-metrics", "--paired", "--baseline-dir", "nowhere"), "error: --baseline-dir nowhere: nowhere/predictions "
     "does not exist; give the root of a copy of the project"),
    (("check-metrics", "--paired", "--rev", "HEAD", "--predictions-dir", "elsewhere"), "error: --predictions-dir "
     "elsewhere does not exist; run the pipeline first (make repro)"),
    (("check-metrics", "--paired", "--rev", "HEAD", "--tolerance", "nan"), "argument --tolerance: 'nan' is not "
     "allowed"),
    (("compare", "--", "-x"), "argument REV_A: '-x' is not a revision"),
])
def test_bad_arguments_are_one_line(repo, capsys, args, message):
    line = refused(capsys, *args)
    assert line.startswith(message) or line.startswith(f"emo {args[0]}: error: {message}"), line


@pytest.mark.parametrize("damage, message", [
    (b"\x89PNG\r\n\x1a\n\x00", "is not a UTF-8 text file (binary?)"),
    (b"clip,label\nx,sad\n", "does not have the predictions columns"),
    (b"", "is empty"),
])
def test_damaged_predictions_now_or_committed_are_named(repo, capsys, damage, message):
    path = repo / "predictions/audio_mfcc_balanced.csv"
    good = path.read_bytes()
    path.write_bytes(damage)
    assert refused(capsys, "check-metrics", "--paired", "--rev", "HEAD").startswith(
        f"error: predictions file predictions/audio_mfcc_balanced.csv {message}")
    git(repo, "commit", "-q", "-am", "damaged")
    path.write_bytes(good)
    assert refused(capsys, "check-metrics", "--paired", "--rev", "HEAD").startswith(
        f"error: predictions file HEAD:predictions/audio_mfcc_balanced.csv {message}")


def test_a_fifo_among_the_predictions_is_refused_without_blocking(repo, capsys):
    os.mkfifo(repo / "predictions/audio_video.csv")
    assert refused(capsys, "check-metrics", "--paired", "--rev", "HEAD") == (
        "error: predictions file predictions/audio_video.csv is a FIFO (named pipe), not a regular file; re-run "
        "the stage that writes it (`dvc repro`)")


def test_a_revision_without_predictions_says_to_use_the_plain_gate(repo, capsys):
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-rq", "--cached", "predictions")
    git(repo, "commit", "-q", "--allow-empty", "-m", "nothing")
    assert refused(capsys, "check-metrics", "--paired", "--rev", "empty").startswith(
        "error: no predictions/*.csv committed at empty: nothing to pair with")


def test_a_huge_committed_file_is_refused_before_it_is_read(repo, capsys, monkeypatch):
    monkeypatch.setattr(predictions, "MAX_BYTES", 1000)
    assert "is larger than 0 MiB" in refused(capsys, "compare", "HEAD~1", "HEAD")
