"""The per-clip predictions format (emo.learn.predictions): round trip, order, and strict, bounded reading."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest

from emo.core.ravdess import EMOTIONS
from emo.learn import predictions
from emo.learn.predictions import COLUMNS, PredictionsError

HEADER = ",".join(COLUMNS)
ROW = "test,03-01-05-01-02-01-23,23,angry,,seed0,angry," + ",".join(["0.125"] * 8)


def sample(seeds=(0, 1), n: int = 6, fold: int | None = None, split: str = "test") -> predictions.Table:
    """Each seed's rows and the ensemble's on `n` clips, float32 probabilities as a model gives them."""
    rng = np.random.default_rng(0)
    labels = np.array(EMOTIONS)[rng.integers(0, 8, n)]
    clips = {"split": split, "clips": [f"03-01-0{i % 8 + 1}-01-01-{i // 8 + 1:02d}-{23 + i % 2}" for i in range(n)],
             "speakers": [23 + i % 2 for i in range(n)], "labels": labels, "fold": fold}
    probas = [rng.dirichlet(np.ones(8), n).astype(np.float32) for _ in seeds]
    blocks = [predictions.block(run=predictions.run_name(s), proba=p, **clips)
              for s, p in zip(seeds, probas, strict=True)]
    return predictions.concat([*blocks, predictions.block(run=predictions.ENSEMBLE, proba=np.mean(probas, axis=0),
                                                          **clips)])


def write(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_table_survives_writing_and_reading_exactly(tmp_path):
    table = sample()
    path = tmp_path / "predictions/m.csv"
    predictions.write(path, table)
    back = predictions.read(path)
    for name in ("split", "clip", "speaker", "label", "fold", "run", "predicted"):
        assert getattr(back, name).tolist() == getattr(table, name).tolist(), name
    # 9 significant digits give back the models' float32 probabilities bit for bit
    assert (back.proba.astype(np.float32) == table.proba.astype(np.float32)).all()
    assert (back.proba.argmax(axis=1) == table.proba.argmax(axis=1)).all()
    assert path.read_text().splitlines()[0] == HEADER and list(tmp_path.joinpath("predictions").iterdir()) == [path]
    assert predictions.to_csv(back) == path.read_text()  # reading and writing again changes nothing


def test_rows_sort_by_split_fold_run_and_clip_whatever_order_they_come_in():
    table = predictions.concat([sample(seeds=(10, 2), fold=1), sample(seeds=(10, 2), fold=0, split="val")])
    shuffled = table.where(np.random.default_rng(1).permutation(len(table)))
    assert predictions.to_csv(predictions.concat([shuffled])) == predictions.to_csv(table)
    keys = list(zip(table.split, table.fold, table.run, strict=True))
    assert keys[0] == ("test", "1", "seed2") and keys[-1] == ("val", "0", "ensemble")
    runs = [r for s, f, r in keys if (s, f) == ("test", "1")]
    assert runs == ["seed2"] * 6 + ["seed10"] * 6 + ["ensemble"] * 6  # seeds by number, the ensemble last
    assert sorted(set(table.fold)) == ["0", "1"]


def test_the_default_prediction_is_the_most_probable_class():
    proba = np.eye(8)[[3, 7]]
    rows = predictions.block(split="test", clips=["a", "b"], speakers=[1, 1], labels=["sad", "sad"], run="seed0",
                             proba=proba)
    assert rows.predicted.tolist() == ["sad", "surprised"] and predictions.correct(rows).tolist() == [True, False]
    with pytest.raises(ValueError, match="probabilities"):
        predictions.block(split="test", clips=["a"], speakers=[1], labels=["sad"], run="seed0", proba=np.ones((1, 7)))


def test_runs_matrix_lines_up_clips_and_seeds(tmp_path):
    table = sample(seeds=(0, 1, 2), n=10)
    clips, labels, right, runs = predictions.runs_matrix(table, "test", "m.csv")
    assert runs == ["seed0", "seed1", "seed2"] and right.shape == (10, 3) and list(clips) == sorted(clips)
    seed1 = table.where((table.run == "seed1") & (table.clip == clips[4]))
    assert right[4, 1] == (seed1.predicted[0] == seed1.label[0]) and labels[4] == seed1.label[0]
    _, _, ensemble, runs = predictions.runs_matrix(table, "test", "m.csv", ensemble=True)
    assert runs == ["ensemble"] and ensemble.shape == (10, 1)
    assert predictions.runs_matrix(table, "val", "m.csv")[2].shape == (0, 0)
    lacking = table.where(~((table.run == "seed2") & (table.clip == clips[3])))
    with pytest.raises(PredictionsError, match=rf"^predictions file m.csv has 0 test rows of clip {clips[3]} for "
                                               "run seed2"):
        predictions.runs_matrix(lacking, "test", "m.csv")


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"),
    ("\n \n", "is empty"),
    ("clip,label\n", "does not have the predictions columns (lacks split, speaker"),
    (HEADER.replace("p_calm,p_happy", "p_happy,p_calm") + "\n", "its columns in another order"),
    (HEADER + ",extra\n", "has unknown extra"),
    (f"{HEADER}\n{ROW},0.1\n", "line 2 has 16 fields, expected 15"),
    (f"{HEADER}\n{ROW.replace('seed0', 'seedling')}\n", "line 2: run 'seedling' is not seed<N> or ensemble"),
    (f"{HEADER}\n{ROW.replace(',,seed0', ',-1,seed0')}\n", "line 2: fold '-1' is not empty or a fold number"),
    (f"{HEADER}\n{ROW.replace('angry,,', 'angry,,').replace(',angry,0', ',furious,0')}\n",
     "line 2: predicted 'furious' is not one of neutral"),
    (f"{HEADER}\n{ROW.replace('test,', ',', 1)}\n", "line 2: split is empty"),
    (f"{HEADER}\n{ROW[:-5]}nan\n", "line 2: p_surprised 'nan' is not a probability in [0, 1]"),
    (f"{HEADER}\n{ROW[:-5]}1.5\n", "line 2: p_surprised '1.5' is not a probability"),
    (f"{HEADER}\n{ROW[:-5]}x\n", "line 2: p_surprised 'x' is not a probability"),
    (f"{HEADER}\n{ROW}\n\n{ROW}\n", "line 4 repeats line 2 (split test, clip 03-01-05-01-02-01-23, run seed0)"),
    (f'{HEADER}\n"unclosed{ROW}\n', "line 2 has 1 fields"),
])
def test_a_malformed_file_is_one_line_naming_it(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(PredictionsError) as refused:
        predictions.read(path)
    message = str(refused.value)
    assert message.startswith(f"predictions file {path} ") and problem in message, message
    assert message.endswith("re-run the stage that writes it (`dvc repro`)") and "\n" not in message


def test_a_good_row_reads(tmp_path):
    table = predictions.read(write(tmp_path, f"{HEADER}\n{ROW}\n"))
    assert len(table) == 1 and table.fold.tolist() == [""] and table.proba.sum() == 1.0


def test_binary_folders_fifos_devices_and_huge_files_are_refused_without_blocking(tmp_path, monkeypatch):
    (tmp_path / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    cases = {tmp_path / "bin.csv": "is not a UTF-8 text file (binary?)", tmp_path / "folder.csv": "is a folder",
             tmp_path / "fifo.csv": "is a FIFO (named pipe), not a regular file",
             tmp_path / "none.csv": "does not exist",
             tmp_path / "bin.csv/x.csv": "does not exist (a folder on its path is a file)"}
    if os.path.exists("/dev/zero"):
        cases["/dev/zero"] = "is a character device, not a regular file"
    done = {}

    def read_all():
        for path, problem in cases.items():
            with pytest.raises(PredictionsError, match="^" + re.escape(f"predictions file {path} {problem}")):
                predictions.read(path)
        done["ok"] = True

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert done == {"ok": True}, "reading a FIFO must not wait for a writer"
    big = write(tmp_path, f"{HEADER}\n{ROW}\n", "big.csv")
    monkeypatch.setattr(predictions, "MAX_BYTES", 100)
    with pytest.raises(PredictionsError, match="is larger than 0 MiB, far too large for predictions"):
        predictions.read(big)
