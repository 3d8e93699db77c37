"""The report: Table 1 beside the paper, figures, data summary, provenance, and its two DVC stages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emo.core import metrics_detail
from emo.core.params import CHECKED
from emo.core.ravdess import EMOTIONS
from emo.experiments import variants
from emo.reporting import report

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
AUDIO = ("audio_mfcc_unbalanced", "audio_mfcc_balanced", "audio_logmel_unbalanced", "audio_logmel_balanced")


def committed(tree: Path) -> Path:
    """Copy the committed audio metrics, plots and params.yaml into `tree`."""
    for folder in ("metrics", "plots/history", "plots/confusion"):
        (tree / folder).mkdir(parents=True, exist_ok=True)
        for path in (REPO / folder).iterdir():
            if path.suffix in (".json", ".csv"):
                shutil.copy2(path, tree / folder / path.name)
    shutil.copy2(REPO / "params.yaml", tree / "params.yaml")
    return tree


def fake_metrics(name: str, accuracies: list[float], folds: int | None = None, **extra) -> dict:
    """A metrics file in evaluate's format over several runs (seeds, or folds of seed 0)."""
    runs = [{"seed": 0 if folds else i, **({"fold": i} if folds else {}), "best_epoch": 2, "accuracy": a,
             "macro_f1": a - 0.1, "uar": a - 0.05, "recall": {e: a for e in EMOTIONS}}
            for i, a in enumerate(accuracies)]
    mean = sum(accuracies) / len(accuracies)
    std = (sum((a - mean) ** 2 for a in accuracies) / (len(accuracies) - 1)) ** 0.5
    return {"model": name, "preset": "paper", "architecture": "paper", **extra, "accuracy": mean, "accuracy_std": std,
            "macro_f1": mean - 0.1, "macro_f1_std": std, "uar": mean - 0.05, "uar_std": std,
            "recall": {e: mean for e in EMOTIONS}, "n_test": 40 * (folds or 1), **({"folds": folds} if folds else {}),
            "seeds": [0] if folds else list(range(len(accuracies))), "best_epoch": [2] * len(accuracies),
            "per_seed": runs}


def write_model(tree: Path, metrics: dict) -> None:
    """Write a model's metrics JSON, learning curve and confusion CSV into the tree."""
    name = metrics["model"]
    (tree / f"metrics/{name}.json").write_text(json.dumps(metrics))
    (tree / f"plots/history/{name}.csv").write_text(
        "epoch,train_loss,val_loss,train_acc,val_acc\n1,2.0,2.1,0.2,0.15\n2,1.5,1.8,0.4,0.3\n3,1.2,1.9,0.5,0.28\n")
    pairs = [(e, e) for e in EMOTIONS] + [("neutral", "calm")]
    (tree / f"plots/confusion/{name}.csv").write_text("actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in pairs))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Committed audio results plus synthetic video (3 folds; balanced absent) and fusion (2 seeds, class pairing)."""
    root = committed(tmp_path / "project")
    write_model(root, fake_metrics("video_unbalanced", [0.5, 0.6, 0.7], folds=3))
    write_model(root, fake_metrics("fusion", [0.8, 0.9], audio_feature="logmel", balance="balanced", pairing="class",
                                   warning="pairing 'class' (the paper's): labels build the test inputs",
                                   ensemble={"accuracy": 0.925, "uar": 0.9, "macro_f1": 0.9}))
    (root / "metrics/faces.json").write_text(json.dumps({
        "clips": 10, "valid_clips": 9, "frames_per_clip": 32, "frames": 288, "detection_rate": 0.9375,
        "fallbacks": {"detected": 270, "nearest": 14, "centre": 4}, "no_face": {"count": 0, "clips": []},
        "damaged": {"count": 1, "clips": ["x"]}, "truncated": {"count": 0, "clips": []}}))
    (root / "metrics/embed.json").write_text(json.dumps({"rows": 40, "rows_embedded": 36, "dim": 64, "frames": 32,
                                                         "embedder": "fer-minixception"}))
    return root


def table_row(markdown: str, label: str) -> str:
    """The Table 1 line that starts with `label`."""
    return next(line for line in markdown.splitlines() if line.startswith(f"| {label}"))


def test_table_one_beside_the_paper(tree: Path) -> None:
    md = report.build_report(tree, "all").read_text()
    for label, paper in (("MFCC, unbalanced", 43), ("MFCC, balanced", 47), ("log-mel, unbalanced", 45),
                         ("log-mel, balanced", 49), ("video, unbalanced", 51), ("video, balanced", 53), ("fusion", 67)):
        assert f" | {paper} | " in table_row(md, label)
    ours = metrics_detail.read(tree / "metrics/audio_logmel_unbalanced.json")
    line = table_row(md, "log-mel, unbalanced")
    # the committed metrics: whatever seeds they hold, their own mean (± std) and the runs they come from
    assert f"| {report.score(ours, 'accuracy')} ({report.runs_note(ours)}) |" in line
    assert (f"| {report.score(ours, 'uar')} | {report.score(ours, 'macro_f1')} | {report.ensemble_score(ours)} "
            "| 120 |") in line
    # a hybrid (its detail says what the SVM adds) is named as one; a model without the SVM is not
    assert "svm_gain" in ours and line.endswith(f"| ours ({ours['architecture']} + SVM) |")
    # Several runs: mean ± sample std, and k-fold named.
    video = table_row(md, "video, unbal")
    assert "| 60.0 ± 10.0 (3-fold, seed 0) | +9.0 | 55.0 ± 10.0 | 50.0 ± 10.0 |  | 120 |" in video
    assert video.endswith("| paper (paper) |")
    assert "k-fold: video_unbalanced" in md
    fusion = table_row(md, "fusion")
    assert "85.0 ± 7.1 (2 seeds) ⚠ see warning" in fusion and "pairing: class" in fusion
    assert "| 75.0 ± 7.1 | 92.5 | 40 |" in fusion  # macro-F1, then the two seeds' ensemble
    assert "**Warning (fusion)**: pairing 'class' (the paper's): labels build the test inputs" in md
    assert "| not run (no video data) |" in table_row(md, "video, balanced")
    # the default model is not one of the paper's rows: no paper number beside it, nor a difference from one
    both = metrics_detail.read(tree / "metrics/audio_both_balanced.json")
    assert table_row(md, "both: log-mel x MFCC^0.5, balanced (default)").startswith(
        f"| both: log-mel x MFCC^0.5, balanced (default) | — | — | {report.score(both, 'accuracy')} "
        f"({report.runs_note(both)}) |  | {report.score(both, 'uar')} |")


def test_figures_and_sections(tree: Path) -> None:
    md_path = report.build_report(tree, "all")
    md = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 2 + (tree / "metrics/calibration.json").is_file()  # the reliability diagram once calibrated
    assert (md_path.parent / "figures/reliability.png").read_bytes().startswith(PNG)  # a DVC out: always drawn
    for link in links:
        assert not link.startswith(("/", "http")), link
        assert (md_path.parent / link).read_bytes().startswith(PNG)
    assert not re.search(r"https?://|<script|@import", md)
    assert "Not shown (not run): video_balanced." in md
    assert "| neutral | 96 | 320 | 640 | 8 | 8 |" in md  # inventory, train unbalanced/balanced, val, test
    assert "Haar detection rate 93.8 %" in md and "14 frames took the nearest" in md and "4 a centre crop" in md
    assert "fer-minixception, 64-d" in md
    assert "not a git repository" in md and "preset: ours" in md
    assert "## Recall per class" in md and "| fusion | 85 |" in md


def test_calibration_section_and_reliability_diagram(tree: Path) -> None:
    scores = {"ece": 0.2, "nll": 1.5, "accuracy": 0.6, "confidence": 0.8, "n": 120}
    entry = {"temperature": 1.75, "fitted_on": {"split": "val", "run": "ensemble", "n": 120},
             "test": {"before": scores, "after": {**scores, "ece": 0.05, "confidence": 0.62}, "helped": True}}
    (tree / "metrics/calibration.json").write_text(json.dumps({"rule": "always", "bins": 15, "models": {
        name: entry for name in (*AUDIO, "audio_both_balanced")}}))
    (tree / "plots/calibration.csv").write_text("model,split,scaling,bin,lower,upper,confidence,accuracy,count\n"
                                                "audio_mfcc_balanced,test,before,12,0.8,0.867,0.83,0.6,20\n")
    md_path = report.build_report(tree, "audio")
    md = md_path.read_text()
    assert "| audio_mfcc_balanced | 1.75 | 20.0 → 5.0 | 80.0 → 62.0 | 60.0 |" in md
    assert "![Reliability diagrams](figures/reliability.png)" in md and "## Calibration" in md
    assert (md_path.parent / "figures/reliability.png").read_bytes().startswith(PNG)


def test_deterministic_apart_from_provenance(tree: Path) -> None:
    first = report.build_report(tree, "all").read_text()
    pngs = {p: p.read_bytes() for p in (tree / "reports/figures").iterdir()}
    second = report.build_report(tree, "all").read_text()
    assert first.split("## Provenance")[0] == second.split("## Provenance")[0]
    assert pngs == {p: p.read_bytes() for p in (tree / "reports/figures").iterdir()}


def test_audio_scope_ignores_video_files(tree: Path) -> None:
    md = report.build_report(tree, "audio").read_text()
    assert (tree / "reports/audio/figures/confusion.png").read_bytes().startswith(PNG)
    for label in ("video, unbalanced", "video, balanced", "fusion"):
        assert "not run (no video data)" in table_row(md, label)  # present on disk, but not its deps
    assert "Haar" not in md and "fusion:" not in md
    assert not (tree / "reports/report.md").exists()
    with pytest.raises(report.EmoError, match="unknown report scope"):
        report.build_report(tree, "video")


def test_git_revision_and_dirty_tree(tree: Path) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=tree, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True).stdout.strip()
    assert f"`{head}` (clean working tree)" in report.build_report(tree, "audio").read_text()  # its own outs ignored
    (tree / "params.yaml").write_text((tree / "params.yaml").read_text() + "\n")
    assert "uncommitted changes: `params.yaml`" in report.build_report(tree, "audio").read_text()


def test_one_git_helper_gives_the_revision_and_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from emo.core import git
    from emo.experiments import scratch

    with pytest.raises(git.GitError, match="not a git repository") as failed:
        git.revision(tmp_path)
    assert not failed.value.missing and failed.value.reason.startswith("fatal: not a git repository")
    (tmp_path / "a.txt").write_text("a\n")
    for args in (["init", "-q"], ["add", "a.txt"], ["commit", "-q", "-m", "a"]):
        scratch.git(tmp_path, *args)
    short = git.text(tmp_path, "rev-parse", "--short", "HEAD")
    assert git.revision(tmp_path) == short and git.head(tmp_path).startswith(short) and not git.dirty(tmp_path)
    (tmp_path / "new.txt").write_text("untracked\n")
    assert git.revision(tmp_path) == short and git.changes(tmp_path) == ["new.txt"]  # untracked: not dirty
    (tmp_path / "a.txt").write_text("b\n")
    assert git.revision(tmp_path) == f"{short}+dirty" and git.changes(tmp_path, untracked=False) == ["a.txt"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    with pytest.raises(git.GitError, match="install git") as missing:
        git.head(tmp_path)
    assert missing.value.missing


def test_dvc_stages_match_the_library() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, scope in (("report", "all"), ("report_audio", "audio")):
        spec = stages[stage]
        assert spec["cmd"] == f"python stages/report.py {scope}"
        # code and the params check: tests/test_dvc_deps.py checks them
        code = {d for d in spec["deps"] if d.startswith(("stages/", "emo/")) or d == CHECKED.as_posix()}
        variant_folders = {variants.variant_dir(Path(), name).as_posix() for name in variants.VARIANTS}
        assert set(spec["deps"]) - code == {p.as_posix() for p in report.inputs(scope)} | variant_folders
        assert set(spec["params"]) == set(report.PARAM_SECTIONS[scope])
        outs = {k: v for out in spec["outs"] for k, v in out.items()}
        assert outs == {p.as_posix(): {"cache": False} for p in report.outputs(scope)}


def test_stage_script_on_the_committed_metrics(tmp_path: Path) -> None:
    root = committed(tmp_path / "copy")
    (root / "stages").mkdir()
    shutil.copy2(REPO / "stages/report.py", root / "stages/report.py")
    done = subprocess.run([sys.executable, "stages/report.py", "audio"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    md = (root / "reports/audio/report.md").read_text()
    mfcc = metrics_detail.read(REPO / "metrics/audio_mfcc_unbalanced.json")
    row = table_row(md, "MFCC, unbalanced")
    assert row.startswith("| MFCC, unbalanced | 43 | ")
    assert f"| {report.score(mfcc, 'accuracy')} ({report.runs_note(mfcc)}) |" in row
    for name in ("confusion", "learning_curves"):
        assert (root / f"reports/audio/figures/{name}.png").read_bytes().startswith(PNG)
    bad = subprocess.run([sys.executable, "stages/report.py", "nope"], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown report scope" in bad.stderr


def test_variants_paper_recipe_column_and_emobox_section(tree: Path) -> None:
    md = report.build_report(tree, "audio").read_text()
    assert "| not run |" in table_row(md, "MFCC, unbalanced") and "EmoBox" not in md  # no variant has run yet
    (tree / "metrics/paper").mkdir()
    (tree / "metrics/paper/audio_mfcc_unbalanced.json").write_text(json.dumps(
        {"variant": "paper", **fake_metrics("audio_mfcc_unbalanced", [0.45, 0.5, 0.55])}))
    emobox = fake_metrics("audio_logmel_unbalanced", [0.6, 0.7], folds=2, protocol="emobox",
                          fold_test_actors=[[1, 11, 20, 21], [4, 10, 12, 14]],
                          per_fold=[{"fold": 0, "accuracy": 0.6}, {"fold": 1, "accuracy": 0.7}],
                          ensemble={"accuracy": 0.66, "uar": 0.65, "macro_f1": 0.6})
    (tree / "metrics/emobox").mkdir()
    (tree / "metrics/emobox/audio_logmel_unbalanced.json").write_text(json.dumps(emobox))
    md = report.build_report(tree, "audio").read_text()
    ours = metrics_detail.read(tree / "metrics/audio_mfcc_unbalanced.json")
    # paper (reported) | paper recipe, our run | ours
    assert (f"| 43 | 50.0 ± 5.0 (3 seeds) | {report.score(ours, 'accuracy')} ({report.runs_note(ours)}) |"
            in table_row(md, "MFCC, unbalanced"))
    assert "| 47 | not run |" in table_row(md, "MFCC, balanced")
    assert "## The EmoBox folds: ours beside published results" in md
    line = table_row(md, "ours: audio_logmel_unbalanced")
    assert "| 65.0 ± 7.1 | 60.0 ± 7.1 | 66.0 / 65.0 | 60.0 / 70.0 |" in line
    assert "| HuBERT-large | 70.29 | 70.00 |" in md and "Test actors per fold: 1, 11, 20, 21; 4, 10, 12, 14." in md


def test_the_nested_run_shows_each_folds_choice_and_the_chosen_recipes_scores(tree: Path) -> None:
    emobox = fake_metrics("audio_logmel_balanced", [0.6, 0.7], folds=2, protocol="emobox",
                          per_fold=[{"fold": 0, "accuracy": 0.6}, {"fold": 1, "accuracy": 0.7}])
    (tree / "metrics/emobox").mkdir()
    (tree / "metrics/emobox/audio_logmel_balanced.json").write_text(json.dumps(emobox))
    assert "Each fold chose its recipe" not in report.build_report(tree, "audio").read_text()  # not run yet
    model = fake_metrics("audio_logmel_balanced", [0.6, 0.8], folds=2,
                         per_fold=[{"fold": 0, "accuracy": 0.6}, {"fold": 1, "accuracy": 0.8}],
                         ensemble={"accuracy": 0.75, "uar": 0.74})
    candidates = [{"name": "default", "audio": {}, "train": {}},
                  {"name": "mixup-0.4", "audio": {}, "train": {"mixup": 0.4}}]
    folds = [{"fold": f, "test_actors": actors, "chosen": chosen,
              "scores": {"default": {"accuracy": a}, "mixup-0.4": {"accuracy": b}}}
             for f, actors, a, b, chosen in [(0, [1, 11, 20, 21], 0.55, 0.5, "default"),
                                             (1, [4, 10, 12, 14], 0.5, 0.61, "mixup-0.4")]]
    (tree / "metrics/emobox/nested.json").write_text(json.dumps(
        {"git_revision": "abc1234", "seconds": 600, "models": {"audio_logmel_balanced": model},
         "selection": {"by": "audio_logmel_balanced", "seed": 0, "candidates": candidates, "folds": folds}}))
    md = report.build_report(tree, "audio").read_text()
    assert "| 0 | 1, 11, 20, 21 | 55.0 | 50.0 | default |" in md
    assert "| 1 | 4, 10, 12, 14 | 50.0 | 61.0 | mixup-0.4 |" in md
    assert "Candidates (changes to params.yaml): mixup-0.4: mixup 0.4." in md
    row = "| audio_logmel_balanced | 70.0 ± 14.1 | 65.0 ± 14.1 | 75.0 / 74.0 | 60.0 / 80.0 | 2 (2 folds × 1 seeds)"
    assert row in md
    assert "Code of `abc1234`, 10 minutes" in md


def test_intervals_stand_beside_the_accuracies(tree: Path) -> None:
    ours = fake_metrics("audio_mfcc_balanced", [0.6, 0.62, 0.64], accuracy_ci95=[0.55, 0.7], uar_ci95=[0.5, 0.66],
                        ensemble={"accuracy": 0.65, "uar": 0.6, "macro_f1": 0.6, "accuracy_ci95": [0.58, 0.73]})
    write_model(tree, ours)
    md = report.build_report(tree, "audio").read_text()
    row = table_row(md, "MFCC, balanced")
    assert "| 62.0 ± 2.0 [55.0, 70.0] (3 seeds) |" in row and "| 57.0 ± 2.0 [50.0, 66.0] |" in row  # accuracy, UAR
    assert "| 65.0 [58.0, 73.0] | 40 |" in row  # the seed ensemble's
    assert "`[low, high]`: the 95 % bootstrap interval over the test clips" in md
    assert report.score({"accuracy": 0.5, "per_seed": [{}]}, "accuracy") == "50.0"  # older metrics: no interval


def test_provenance_names_where_auto_found_the_data(tmp_path: Path) -> None:
    from emo.reporting.report import provenance

    (tmp_path / "params.yaml").write_text("data:\n  source: auto\n  parts: [audio_speech]\n")
    line = next(x for x in provenance(tmp_path, "audio") if x.startswith("- Data:"))
    assert line.endswith("source `auto`")  # no download record yet: the setting alone
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/download.json").write_text('{"setting": "auto", "source": "../shared/ravdess", '
                                                    '"route": "mirror"}')
    line = next(x for x in provenance(tmp_path, "audio") if x.startswith("- Data:"))
    assert line.endswith("source `auto` (mirror: `../shared/ravdess`)")
