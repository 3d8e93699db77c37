"""What `emo predict` prints: the results as an aligned table or JSON, and one line per error or warning."""

from __future__ import annotations

import json

from emo.core.ravdess import EMOTIONS
from emo.predict.jobs import Job
from emo.predict.model import MIN_OWN_CLIPS


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


def table(jobs: list[Job]) -> str:
    """The results as an aligned text table, one row per prediction; a warnings column when there are any."""
    results = [j.result for j in jobs if j.result]
    flagged = any(r["warnings"] for r in results)
    header = ["file", "model", "prediction", *EMOTIONS, "speaker", "speaker stats", *["warnings"] * flagged]
    rows = [[r["file"], r["model"], r["prediction"], *(f"{r['probabilities'][e]:.3f}" for e in EMOTIONS),
             r["speaker"], _stats_text(r["speaker_stats"]),
             *["; ".join(w["warning"] for w in r["warnings"]) or "-"] * flagged] for r in results]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    numeric = range(3, 3 + len(EMOTIONS))
    lines = ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                strict=True)))
             for row in [header, *rows]]
    note = ("speaker stats: 'own' = the speaker group's own per-bin statistics, 'training' = the training actors' "
            f"average (--speaker-stats auto: own from {MIN_OWN_CLIPS} clips up)")
    scaled = sorted({(r["model"], r["calibration"]["temperature"]) for r in results if r.get("calibration")})
    if scaled:
        note += ("\nprobabilities: temperature-scaled, softmax(log p / T), T fitted on the validation actors "
                 "(models/calibration.json): " + ", ".join(f"{m} T = {t:.2f}" for m, t in scaled)
                 + "; the prediction is unchanged")
    return "\n".join(line.rstrip() for line in lines) + ("\n" + note if rows else "") + "\n"


def to_json(jobs: list[Job]) -> str:
    """The results and errors as JSON."""
    return json.dumps({"emotions": list(EMOTIONS), "min_own_clips": MIN_OWN_CLIPS,
                       "results": [j.result for j in jobs if j.result],
                       "errors": [{"file": j.error[0], "error": j.error[1]} for j in jobs if j.error]}, indent=2) + "\n"


def error_lines(jobs: list[Job]) -> list[str]:
    """One `error: FILE: message` line per failed job, then one `warning: FILE: message` line per warning."""
    lines = [f"error: {j.error[0]}: {j.error[1]}" for j in jobs if j.error]
    return lines + [f"warning: {file}: {text}" for j in jobs if j.result for file, text in j.warnings]
