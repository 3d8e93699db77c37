"""What `emo predict` prints: the results as an aligned table or JSON, and one line per error or warning, each
written as the jobs come. Names from outside (files, folders) are escaped in everything meant for a person: a
carriage return in a file name must not print a fake row over a real one (JSON escapes them itself)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable, Iterator

from emo.core.ravdess import EMOTIONS
from emo.core.text import printable
from emo.predict.jobs import Job, PredictError
from emo.predict.model import MIN_OWN_CLIPS

HEADER = ("file", "model", "prediction", *EMOTIONS, "speaker", "speaker stats", "warnings")
_NUMERIC = range(3, 3 + len(EMOTIONS))
_SPEAKER_STATS = HEADER.index("speaker stats")


def _stats_text(stats: dict | None) -> str:
    """The table's speaker-statistics cell: which statistics standardised each input."""
    if stats is None:
        return "not used"
    parts = {f"{s['source']} ({s['clips']} clip{'s' * (s['clips'] != 1)})" for s in stats.values()}
    if len(parts) == 1:
        return parts.pop()
    return ", ".join(f"{f}: {s['source']} ({s['clips']})" for f, s in stats.items())


def warning_records(job: Job) -> list[dict[str, str]]:
    """The job's warnings as JSON records, like the errors'."""
    return [{"file": file, "warning": text} for file, text in job.warnings]


def _cells(result: dict) -> list[str]:
    return [printable(result["file"]), printable(result["model"]), result["prediction"],
            *(f"{result['probabilities'][e]:.3f}" for e in EMOTIONS), printable(result["speaker"]),
            _stats_text(result["speaker_stats"]), printable("; ".join(w["warning"] for w in result["warnings"]) or "-")]


def widths(*, jobs: list[Job], models: dict) -> list[int]:
    """Column widths that fit every row the jobs can give, known before any file is read (the table is printed
    as the results come): the file, model and speaker names, and the longest speaker-statistics cell a group of
    that many clips can get."""
    out = [len(h) for h in HEADER]
    out[_NUMERIC[0]:_NUMERIC[-1] + 1] = [max(len(e), 5) for e in EMOTIONS]
    out[2] = max([out[2], *map(len, EMOTIONS)])
    clips: dict[tuple[str, str], int] = {}
    usable = [(job, models[job.model]) for job in jobs if not job.error and not isinstance(models[job.model],
                                                                                              PredictError)]
    for job, model in usable:
        for feature in model.inputs:
            clips[(job.speaker, feature)] = clips.get((job.speaker, feature), 0) + 1
    for job, model in usable:
        most = {f: {"source": "training", "clips": clips[(job.speaker, f)]} for f in model.inputs}
        mixed = ", ".join(f"{f}: training ({s['clips']})" for f, s in most.items()) if len(most) > 1 else ""
        longest = max(len(_stats_text(most if model.speaker_norm else None)), len(mixed))
        for column, cell in ((0, printable(job.label)), (1, printable(job.model)), (HEADER.index("speaker"),
                             printable(job.speaker)), (_SPEAKER_STATS, "x" * longest)):
            out[column] = max(out[column], len(cell))
    return out


def _line(cells: list[str], sizes: list[int]) -> str:
    return "  ".join(c.rjust(w) if i in _NUMERIC else c.ljust(w) for i, (c, w) in
                     enumerate(zip(cells, sizes, strict=True))).rstrip()


def table_lines(jobs: Iterable[Job], *, sizes: list[int]) -> Iterator[str]:
    """The results as an aligned text table, a line at a time as the jobs come (`sizes`: `widths`): the header
    before the first row, the notes after the last; nothing without a result."""
    scaled: set[tuple[str, float]] = set()
    rows = 0
    for job in jobs:
        if not job.result:
            continue
        if not rows:
            yield _line(list(HEADER), sizes) + "\n"
        rows += 1
        if job.result.get("calibration"):
            scaled.add((job.result["model"], job.result["calibration"]["temperature"]))
        yield _line(_cells(job.result), sizes) + "\n"
    if not rows:
        return
    note = ("speaker stats: 'own' = the speaker group's own per-bin statistics, 'training' = the training actors' "
            f"average (--speaker-stats auto: own from {MIN_OWN_CLIPS} clips up)")
    if scaled:
        note += ("\nprobabilities: temperature-scaled, softmax(log p / T), T fitted on the validation actors "
                 "(models/calibration.json; the shipped model holds its own): "
                 + ", ".join(f"{printable(m)} T = {t:.2f}" for m, t in sorted(scaled)) + "; the prediction is kept")
    yield note + "\n"


def table(jobs: list[Job]) -> str:
    """The finished jobs' results as one aligned table, its columns as wide as its rows need."""
    rows = [_cells(job.result) for job in jobs if job.result]
    sizes = [max(len(c) for c in column) for column in zip(HEADER, *rows, strict=True)]
    return "".join(table_lines(jobs, sizes=sizes))


def _listed(key: str, items: Iterable[dict], last: bool) -> Iterator[str]:
    """`"key": [...]` of a JSON object at depth 1, an item at a time, as json.dumps(indent=2) writes it."""
    yield f'  "{key}": ['
    empty = True
    for item in items:
        yield ("\n" if empty else ",\n") + textwrap.indent(json.dumps(item, indent=2), "    ")
        empty = False
    yield ("]" if empty else "\n  ]") + ("\n" if last else ",\n")


def json_chunks(jobs: Iterable[Job]) -> Iterator[str]:
    """The results and errors as JSON, written a result at a time as the jobs come (the errors, held till then,
    after them): the text json.dumps(indent=2) gives for the whole document."""
    errors: list[dict[str, str]] = []

    def results() -> Iterator[dict]:
        for job in jobs:
            if job.error:
                errors.append({"file": job.error[0], "error": job.error[1]})
            elif job.result:
                yield job.result

    head = json.dumps({"emotions": list(EMOTIONS), "min_own_clips": MIN_OWN_CLIPS}, indent=2)
    yield head.removesuffix("\n}") + ",\n"
    yield from _listed("results", results(), last=False)
    yield from _listed("errors", errors, last=True)
    yield "}\n"


def to_json(jobs: list[Job]) -> str:
    """The results and errors as JSON."""
    return "".join(json_chunks(jobs))


def error_lines(jobs: list[Job]) -> list[str]:
    """One `error: FILE: message` line per failed job, then one `warning: FILE: message` line per warning, escaped."""
    lines = [f"error: {printable(j.error[0])}: {printable(j.error[1])}" for j in jobs if j.error]
    return lines + [f"warning: {printable(file)}: {printable(text)}" for j in jobs if j.result
                    for file, text in j.warnings]


def telling(jobs: Iterable[Job], failed: list[str]) -> Iterator[Job]:
    """The jobs as they come, each one's error or warning lines printed on stderr first (its row follows on
    stdout); a failed job's file is added to `failed`."""
    for job in jobs:
        for line in error_lines([job]):
            print(line, file=sys.stderr)
        if job.error:
            failed.append(job.error[0])
        yield job
