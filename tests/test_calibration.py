"""Calibration: top-label ECE and reliability bins, temperature scaling fitted on validation rows (deterministic, the
argmax kept), and the `calibrate` stage on small predictions files in the evaluate / crosscorpus format."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emo.core import metrics_detail
from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.learn import calibration
from emo.reporting import calibration_section
from emo.studies import calibration as stage

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["split", "clip", "speaker", "label", "fold", "run", "predicted", *(f"p_{e}" for e in EMOTIONS)]
EMODB = ["neutral", "happy", "sad", "angry", "fearful", "disgust"]


def calibrated(n: int, seed: int, classes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose labels are drawn from them: calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(classes, 0.5), size=n)
    y = np.array([rng.choice(classes, p=row) for row in p])
    return p, y


def sharpened(p: np.ndarray, power: float) -> np.ndarray:
    """p ** power renormalised: power > 1 makes calibrated rows overconfident, < 1 underconfident."""
    q = p ** power
    return q / q.sum(axis=1, keepdims=True)


def test_ece_of_calibrated_data_is_near_zero_and_of_overconfident_data_large() -> None:
    p, y = calibrated(20000, 0)
    assert calibration.expected_calibration_error(p, y, bins=15) < 0.015
    over = sharpened(p, 4.0)
    assert calibration.expected_calibration_error(over, y, bins=15) > 0.15
    # always right with confidence 1: 0; always wrong with confidence 1: 1
    one_hot = np.eye(8)[y]
    assert calibration.expected_calibration_error(one_hot, y) == 0.0
    assert calibration.expected_calibration_error(one_hot, (y + 1) % 8) == 1.0


def test_reliability_bins_count_every_clip_once() -> None:
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.2, 0.8], [1.0, 0.0]])
    y = np.array([0, 1, 0, 1, 0])
    rows = calibration.reliability(p, y, bins=5)
    assert [r["count"] for r in rows] == [0, 0, 2, 1, 2]  # (.4, .6]: .6 and .5; (.6, .8]: .8; (.8, 1]: .9, 1
    assert rows[0]["confidence"] is None and rows[0]["accuracy"] is None
    assert rows[2]["confidence"] == pytest.approx(0.55) and rows[2]["accuracy"] == 0.5
    assert rows[4] == {"lower": 0.8, "upper": 1.0, "count": 2, "confidence": pytest.approx(0.95), "accuracy": 1.0}
    ece = (2 * 0.05 + 1 * 0.2 + 2 * 0.05) / 5
    assert calibration.expected_calibration_error(p, y, bins=5) == pytest.approx(ece)


def test_temperature_is_above_one_for_overconfident_below_one_for_underconfident() -> None:
    p, y = calibrated(5000, 1)
    t_over = calibration.fit_temperature(sharpened(p, 2.0), y)
    t_under = calibration.fit_temperature(sharpened(p, 0.5), y)
    assert t_over == pytest.approx(2.0, rel=0.1) and t_under == pytest.approx(0.5, rel=0.1)
    assert calibration.fit_temperature(p, y) == pytest.approx(1.0, rel=0.1)
    over = sharpened(p, 2.0)
    scaled = calibration.apply_temperature(over, t_over)
    assert calibration.expected_calibration_error(scaled, y) < calibration.expected_calibration_error(over, y) / 3
    assert calibration.nll(scaled, y) < calibration.nll(over, y)


def test_fit_is_deterministic_and_the_temperature_keeps_every_prediction() -> None:
    p, y = calibrated(3000, 2)
    over = sharpened(p, 3.0)
    first = calibration.fit_temperature(over, y)
    assert all(calibration.fit_temperature(over, y) == first for _ in range(3))
    for t in (0.2, 0.7, 1.0, first, 10.0):
        scaled = calibration.apply_temperature(over, t)
        np.testing.assert_array_equal(scaled.argmax(axis=1), over.argmax(axis=1))
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    np.testing.assert_allclose(calibration.apply_temperature(over, 1.0), over, atol=1e-12)
    with pytest.raises(EmoError, match="> 0"):
        calibration.apply_temperature(over, 0.0)
    with pytest.raises(EmoError, match="class index"):
        calibration.fit_temperature(over, np.full(len(y), 8))


def test_temperatures_file_is_read_and_a_bad_one_named(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    assert calibration.load_temperatures(path) == {}
    path.write_text(json.dumps({"models": {"audio_logmel_balanced": {"temperature": 1.5}}}))
    assert calibration.load_temperatures(path) == {"audio_logmel_balanced": 1.5}
    path.write_text(json.dumps({"models": {"audio_logmel_balanced": {"temperature": -1}}}))
    with pytest.raises(EmoError, match="not a positive number"):
        calibration.load_temperatures(path)
    path.write_text("[]")
    with pytest.raises(EmoError, match="not a calibration file"):
        calibration.load_temperatures(path)


def rows_for(split: str, p: np.ndarray, y: np.ndarray, labels: list[str], run: str) -> list[dict]:
    """Predictions rows in the evaluate / crosscorpus format, over all eight classes."""
    return [{"split": split, "clip": f"{split}-{i}", "speaker": f"s{i % 2}", "label": labels[label], "fold": "",
             "run": run, "predicted": EMOTIONS[int(row.argmax())], **{f"p_{e}": f"{v:.8g}" for e, v in
                                                                     zip(EMOTIONS, row, strict=True)}}
            for i, (row, label) in enumerate(zip(p, y, strict=True))]


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def fake_project(root: Path) -> Path:
    """Overconfident (power 2) predictions of the four audio models: val, test, EmoDB (with boredom clips)."""
    for k, model in enumerate(stage.models()):
        rows = []
        for split, seed in (("val", 10 + k), ("test", 20 + k)):
            p, y = calibrated(400, seed)
            rows += rows_for(split, sharpened(p, 2.0), y, list(EMOTIONS), "ensemble")
            rows += rows_for(split, p, y, list(EMOTIONS), "seed0")  # another run: never used
        write(root / f"predictions/{model}.csv", rows)
        p, y = calibrated(300, 30 + k, classes=6)
        full = np.zeros((300, 8))
        full[:, [EMOTIONS.index(e) for e in EMODB]] = 0.9 * p
        full[:, EMOTIONS.index("calm")] = 0.1  # mass on a class EmoDB lacks: renormalised away
        emodb = rows_for("emodb", sharpened(full, 2.0), y, EMODB, "ensemble")
        emodb += [{**emodb[0], "clip": "boredom-1", "label": "boredom"}, {**emodb[1], "clip": "b2", "label": "boredom"}]
        write(root / f"predictions/crosscorpus/{model}_emodb.csv", emodb)
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return root


def test_calibrate_fits_on_validation_and_judges_test_and_emodb(tmp_path: Path) -> None:
    root = fake_project(tmp_path)
    metrics, records, temperatures = stage.evaluate(root)
    entry = metrics["models"]["audio_logmel_balanced"]
    assert entry["fitted_on"] == {"split": "val", "run": "ensemble", "n": 400}
    assert entry["temperature"] == pytest.approx(2.0, rel=0.15)
    assert entry["test"]["helped"] and entry["test"]["after"]["ece"] < entry["test"]["before"]["ece"]
    assert entry["test"]["before"]["accuracy"] == entry["test"]["after"]["accuracy"]  # predictions kept
    emodb = entry["emodb"]
    assert emodb["classes"] == EMODB and emodb["not_scored"] == {"boredom": 2} and emodb["before"]["n"] == 300
    assert emodb["helped"]
    # fitted on the validation rows alone: the test rows do not move it
    rows = list(csv.DictReader(open(root / "predictions/audio_logmel_balanced.csv")))
    write(root / "predictions/audio_logmel_balanced.csv", [r for r in rows if r["split"] == "val"])
    again, _, _ = stage.evaluate(root)
    assert again["models"]["audio_logmel_balanced"]["temperature"] == entry["temperature"]
    assert "test" not in again["models"]["audio_logmel_balanced"]
    assert temperatures["models"]["audio_logmel_balanced"] == {"temperature": entry["temperature"]}
    assert {r["split"] for r in records} == {"val", "test", "emodb"} and all(r["count"] for r in records)


def test_one_run_is_its_own_ensemble_and_several_runs_need_one(tmp_path: Path) -> None:
    root = fake_project(tmp_path)
    path = root / "predictions/audio_mfcc_balanced.csv"
    rows = list(csv.DictReader(open(path)))
    write(path, [r for r in rows if r["run"] == "seed0"])  # one seed: no ensemble rows
    entry, _ = stage.calibrate_model("audio_mfcc_balanced", root)
    assert entry["fitted_on"]["run"] == "seed0" and entry["temperature"] == pytest.approx(1.0, rel=0.15)
    write(path, [r for r in rows if r["run"] == "seed0"] + [{**r, "run": "seed1"} for r in rows if r["run"] == "seed0"])
    with pytest.raises(EmoError, match="no 'ensemble' rows"):
        stage.calibrate_model("audio_mfcc_balanced", root)


def test_stage_script_writes_its_outputs_and_the_report_section(tmp_path: Path) -> None:
    root = fake_project(tmp_path)
    (root / "stages").mkdir()
    (root / "stages/calibrate.py").write_text((REPO / "stages/calibrate.py").read_text())
    done = subprocess.run([sys.executable, "stages/calibrate.py"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "calibrate audio_mfcc_unbalanced: T " in done.stdout
    temperatures = calibration.load_temperatures(root / calibration.TEMPERATURES)
    assert set(temperatures) == set(stage.models()) and all(t > 1 for t in temperatures.values())
    metrics = metrics_detail.read(root / "metrics/calibration.json")
    assert metrics["rule"].startswith("emo predict always applies")
    figure = root / "reports/figures/reliability.png"
    lines = calibration_section.section(root, figure, "figures/reliability.png")
    text = "\n".join(lines)
    assert figure.read_bytes().startswith(b"\x89PNG") and "![Reliability diagrams](figures/reliability.png)" in text
    t = metrics["models"]["audio_mfcc_unbalanced"]["temperature"]
    assert f"| audio_mfcc_unbalanced | {t:.2f} | " in text and "EmoDB: ECE (%) before → after" in text
    assert "boredom 2" in text
    first = figure.read_bytes()
    calibration_section.section(root, figure, "figures/reliability.png")
    assert figure.read_bytes() == first  # byte-stable
    (root / "predictions/audio_mfcc_unbalanced.csv").unlink()
    failed = subprocess.run([sys.executable, "stages/calibrate.py"], cwd=root, capture_output=True, text=True)
    assert failed.returncode == 1 and "predictions/audio_mfcc_unbalanced.csv does not exist" in failed.stderr


def test_report_section_without_the_stage(tmp_path: Path) -> None:
    figure = tmp_path / "reports/figures/reliability.png"
    lines = calibration_section.section(tmp_path, figure, "figures/reliability.png")
    assert "Not run: the `calibrate` stage has not run." in lines and figure.read_bytes().startswith(b"\x89PNG")
