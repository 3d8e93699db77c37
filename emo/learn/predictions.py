"""Per-clip predictions, the evaluate and crosscorpus stages' outputs (predictions/<model>.csv,
predictions/crosscorpus/<model>_<corpus>.csv): one row per clip and run, written and read here only.

Columns: split, clip (the clip's file stem, unique per clip), speaker, label (the true emotion), fold (empty in
hold-out mode), run (`seed<N>` per trained run, `ensemble` for the mean of the runs' probabilities, as `emo predict`
answers), predicted (the emotion the scores count), and p_<emotion> per RAVDESS class. Probabilities are written
with 9 significant digits, which gives back the models' float32 values exactly. Reading is bounded (regular files
only, at most MAX_BYTES) and strict: every problem is one line naming the file.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo.core import reading
from emo.core.errors import EmoError
from emo.core.io import writing
from emo.core.ravdess import EMOTIONS

FOLDER = Path("predictions")
CROSSCORPUS = FOLDER / "crosscorpus"
PROBABILITIES = tuple(f"p_{emotion}" for emotion in EMOTIONS)
COLUMNS = ("split", "clip", "speaker", "label", "fold", "run", "predicted", *PROBABILITIES)
ENSEMBLE = "ensemble"
MAX_BYTES = 256 * 2**20  # tens of thousands of clips x runs fit; stops a read of /dev/zero
FIX = "re-run the stage that writes it (`dvc repro`)"
_RUN = re.compile(r"seed(0|[1-9][0-9]{0,9})")
_FOLD = re.compile(r"0|[1-9][0-9]{0,5}")


class PredictionsError(EmoError):
    """A predictions file that cannot be read, or does not follow the format."""


@dataclass(frozen=True)
class Table:
    """Rows of a predictions file as arrays (strings, and the probabilities as float [rows, classes])."""

    split: np.ndarray
    clip: np.ndarray
    speaker: np.ndarray
    label: np.ndarray
    fold: np.ndarray  # '' in hold-out mode, else the fold's index as text
    run: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray

    def __len__(self) -> int:
        return len(self.clip)

    def where(self, keep: np.ndarray) -> Table:
        """The rows where `keep` holds."""
        return Table(*(getattr(self, name)[keep] for name in _FIELDS))


_FIELDS = ("split", "clip", "speaker", "label", "fold", "run", "predicted", "proba")


def restricted_argmax(proba: np.ndarray, classes) -> np.ndarray:
    """Per clip, the most probable class among `classes` (model class indices, ascending)."""
    classes = np.asarray(classes)
    return classes[proba[:, classes].argmax(axis=1)]


def run_name(seed: int) -> str:
    """The `run` of a trained run: seed<N>."""
    return f"seed{int(seed)}"


def block(*, split: str, clips, speakers, labels, run: str, proba: np.ndarray, predicted=None,
          fold: int | None = None) -> Table:
    """The rows of one run on one split: per clip its stem, speaker, true emotion name and class probabilities;
    `predicted` (emotion names) defaults to the most probable class."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(EMOTIONS):
        raise ValueError(f"expected probabilities [clips, {len(EMOTIONS)}], got shape {proba.shape}")
    n = len(proba)
    if predicted is None:
        predicted = np.array(EMOTIONS)[proba.argmax(axis=1)] if n else np.array([], dtype=str)
    columns = [np.asarray(v, dtype=str).reshape(-1) for v in (clips, speakers, labels, predicted)]
    if any(len(c) != n for c in columns):
        raise ValueError(f"{n} probability rows but {[len(c) for c in columns]} clips, speakers, labels, predicted")
    clip, speaker, label, predicted = columns
    return Table(np.full(n, split, dtype=object).astype(str), clip, speaker, label,
                 np.full(n, "" if fold is None else str(int(fold)), dtype=object).astype(str),
                 np.full(n, run, dtype=object).astype(str), predicted, proba)


def _run_order(run: str) -> tuple[int, int]:
    """Seeds in numeric order, the ensemble last."""
    return (1, 0) if run == ENSEMBLE else (0, int(run[4:]))


def concat(tables: list[Table]) -> Table:
    """All rows of `tables`, sorted by split, fold, run (seeds by number, the ensemble last) and clip."""
    if not tables:
        return Table(*([np.array([], dtype=str)] * 7), np.zeros((0, len(EMOTIONS))))
    joined = Table(*(np.concatenate([getattr(t, name) for t in tables]) for name in _FIELDS))
    keys = [(s, -1 if f == "" else int(f), _run_order(r), c)
            for s, f, r, c in zip(joined.split, joined.fold, joined.run, joined.clip, strict=True)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return joined.where(np.array(order, dtype=np.int64))


def to_csv(table: Table) -> str:
    """The CSV text of a table (header first, `\\n` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(len(table)):
        writer.writerow([table.split[i], table.clip[i], table.speaker[i], table.label[i], table.fold[i],
                         table.run[i], table.predicted[i], *(format(float(p), ".9g") for p in table.proba[i])])
    return out.getvalue()


def write(path: Path, table: Table) -> None:
    """Write a predictions file whole or not at all (through a temporary file), creating its folder."""
    with writing(path) as temporary:
        temporary.write_text(to_csv(table))


def _problem(where: str, text: str, fix: str) -> PredictionsError:
    return PredictionsError(f"predictions file {where} {text}; {fix}")


def parse(data: bytes, where: str, fix: str = FIX) -> Table:
    """A table from a predictions file's bytes; a PredictionsError names `where`, the line and what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _problem(where, "is not a UTF-8 text file (binary?)", fix) from None
    if not text.strip():
        raise _problem(where, "is empty", fix)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise _problem(where, f"is not valid CSV ({err})", fix) from None
    header = tuple(rows[0]) if rows else ()
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        detail = (f"lacks {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
            (f"has unknown {', '.join(extra[:3])}" if extra else "") or "has its columns in another order"
        raise _problem(where, f"does not have the predictions columns ({detail}): expected "
                       f"{','.join(COLUMNS[:7])},p_<emotion> x {len(EMOTIONS)}", fix)
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if row]
    seen: dict[tuple[str, str, str, str], int] = {}
    proba = np.empty((len(body), len(EMOTIONS)))
    for i, (number, row) in enumerate(body):
        line = f"line {number}"
        if len(row) != len(COLUMNS):
            raise _problem(where, f"{line} has {len(row)} fields, expected {len(COLUMNS)}", fix)
        split, clip, _, label, fold, run, predicted = row[:7]
        for name, value in (("split", split), ("clip", clip), ("label", label)):
            if not value.strip():
                raise _problem(where, f"{line}: {name} is empty", fix)
        if fold and not _FOLD.fullmatch(fold):
            raise _problem(where, f"{line}: fold {fold[:20]!r} is not empty or a fold number", fix)
        if run != ENSEMBLE and not _RUN.fullmatch(run):
            raise _problem(where, f"{line}: run {run[:20]!r} is not seed<N> or {ENSEMBLE}", fix)
        if predicted not in EMOTIONS:
            raise _problem(where, f"{line}: predicted {predicted[:20]!r} is not one of {', '.join(EMOTIONS)}", fix)
        key = (split, clip, fold, run)
        if key in seen:
            raise _problem(where, f"{line} repeats line {seen[key]} (split {split}, clip {clip[:40]}, run {run})",
                           fix)
        seen[key] = number
        for j, value in enumerate(row[7:]):
            try:
                p = float(value)
            except ValueError:
                p = math.nan
            if not 0 <= p <= 1:  # also NaN
                raise _problem(where, f"{line}: {COLUMNS[7 + j]} {value[:20]!r} is not a probability in [0, 1]", fix)
            proba[i, j] = p
    columns = list(zip(*(row[:7] for _, row in body), strict=True)) or [()] * 7
    return Table(*(np.array(c, dtype=str) for c in columns), proba)


def read_bytes(path: Path, where: str, fix: str = FIX) -> bytes:
    """A regular file's bytes, at most MAX_BYTES; a FIFO, device or folder is refused without opening it."""
    return reading.read_regular(path, limit=MAX_BYTES, where=f"predictions file {where}", fix=fix,
                                kind="predictions", error=PredictionsError)


def read(path: str | Path, fix: str = FIX) -> Table:
    """A predictions file, read bounded and checked (see `parse`)."""
    return parse(read_bytes(Path(path), str(path), fix), str(path), fix)


def correct(table: Table) -> np.ndarray:
    """Per row, whether the predicted emotion is the true one."""
    return table.predicted == table.label


def runs_matrix(table: Table, split: str, where: str, ensemble: bool = False,
                fix: str = FIX) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The clips of one split (sorted), their true labels, and whether each run got each clip right
    [clips, runs], with the run names: the trained runs (seed<N>), or with `ensemble` the ensemble alone.
    In k-fold mode a clip is in the test split of one fold: its runs are that fold's. A clip some run lacks is
    a damaged file."""
    keep = (table.split == split) & ((table.run == ENSEMBLE) if ensemble else (table.run != ENSEMBLE))
    rows = table.where(keep)
    clips = np.unique(rows.clip)
    runs = sorted(set(rows.run.tolist()), key=_run_order)
    if not len(clips):
        return clips, np.array([], dtype=str), np.zeros((0, len(runs)), bool), runs
    row_of = np.searchsorted(clips, rows.clip)
    col_of = np.array([runs.index(r) for r in rows.run], dtype=np.int64)
    matrix = np.zeros((len(clips), len(runs)), bool)
    filled = np.zeros((len(clips), len(runs)), np.int64)
    matrix[row_of, col_of] = correct(rows)
    np.add.at(filled, (row_of, col_of), 1)
    if (filled != 1).any():
        i, j = np.argwhere(filled != 1)[0]
        raise _problem(where, f"has {filled[i, j]} {split} rows of clip {clips[i][:40]} for run {runs[j]} (in "
                       "k-fold mode, a clip is tested in one fold), expected 1", fix)
    labels = np.empty(len(clips), dtype=object)
    labels[row_of] = rows.label
    return clips, labels.astype(str), matrix, runs
