"""Metric gate: compare metrics/*.json with a baseline and fail when a metric drops beyond a tolerance."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emo.errors import EmoError

GATED = ("accuracy", "uar", "macro_f1")  # higher is better for every gated key
TOLERANCE = 0.02  # absolute: one or two test clips of 60-120 may flip between machines without a real regression
FAILING = ("drop", "missing")

Docs = dict[str, Any]  # metrics file path (e.g. "metrics/audio_mfcc_balanced.json") -> its parsed JSON
Baseline = dict[str, dict[str, float]]  # metrics file path -> gated key -> baseline value


class GateError(EmoError):
    """The baseline or the metrics cannot be read."""


@dataclass(frozen=True)
class Row:
    """One line of the gate's table: a gated key of a metrics file, or a whole file (key '')."""

    file: str
    key: str
    baseline: float | None
    now: float | None
    status: str  # ok | drop | missing | new

    @property
    def failed(self) -> bool:
        """A drop beyond the tolerance, or a metric or file that the baseline has and now lacks."""
        return self.status in FAILING

    @property
    def change(self) -> float | None:
        """Now minus baseline, when both are numbers."""
        return None if self.baseline is None or self.now is None else self.now - self.baseline


def is_wall_clock(key: str) -> bool:
    """Timings depend on the machine and its load, so they are never gated."""
    last = key.rsplit(".", 1)[-1]
    return last == "seconds" or last.endswith("_seconds")


def number(value: Any) -> float | None:
    """The value as a float if it is a real, finite number (not a bool, string, list or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def lookup(doc: Any, key: str) -> Any:
    """The value at a dotted key such as `recall.neutral`, or None."""
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _parse(text: str, where: str) -> Any:
    """JSON text, or a GateError naming where it came from."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise GateError(f"{where}: not valid JSON ({err})") from None


def current(metrics_dir: str | Path = "metrics") -> Docs:
    """Every metrics/**/*.json in the workspace, keyed by its path as given (e.g. `metrics/data.json`)."""
    folder = Path(metrics_dir)
    return {(folder / p.relative_to(folder)).as_posix(): _parse(p.read_text(), str(p))
            for p in sorted(folder.rglob("*.json"))}


def _git(*args: str) -> str:
    """Output of a git command run in the current directory."""
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode:
        raise GateError(f"git {' '.join(args)} failed: {result.stderr.strip()} (in CI, fetch the history: "
                        "actions/checkout with fetch-depth: 0)")
    return result.stdout


def at_rev(rev: str, metrics_dir: str | Path = "metrics") -> Docs:
    """The metrics files committed at a git revision, read with `git show REV:./path`."""
    _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    names = [n for n in _git("ls-tree", "-r", "--name-only", rev, "--", str(metrics_dir)).splitlines()
             if n.endswith(".json")]
    if not names:
        raise GateError(f"no {metrics_dir}/*.json committed at {rev}: nothing to compare with")
    return {name: _parse(_git("show", f"{rev}:./{name}"), f"{rev}:{name}") for name in names}


def select(docs: Docs, keys: tuple[str, ...]) -> Baseline:
    """The numeric gated keys of each metrics file; a file with none still counts (it must keep existing)."""
    picked: Baseline = {}
    for name, doc in docs.items():
        values = {k: number(lookup(doc, k)) for k in keys if not is_wall_clock(k)}
        picked[name] = {k: v for k, v in values.items() if v is not None}
    return picked


def read_baseline(path: str | Path) -> Baseline:
    """A baseline file: {metrics file: {key: value}}; non-numeric and wall-clock values are dropped."""
    path = Path(path)
    try:
        raw = _parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise GateError(f"baseline {path} not found; write one with `emo check-metrics --write-baseline {path}`")\
            from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise GateError(f"baseline {path}: expected {{\"metrics/x.json\": {{\"accuracy\": 0.5, ...}}, ...}}")
    if not raw:
        raise GateError(f"baseline {path} is empty: nothing to compare with")
    return {name: {k: n for k, v in values.items() if not is_wall_clock(k) and (n := number(v)) is not None}
            for name, values in raw.items()}


def write_baseline(path: str | Path, docs: Docs, keys: tuple[str, ...] = GATED) -> Baseline:
    """Write the gated keys of the current metrics as a baseline file, and return them."""
    if not docs:
        raise GateError("no metrics files to write a baseline from (run the pipeline first)")
    baseline = select(docs, keys)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
    return baseline


def compare(baseline: Baseline, now: Docs, keys: tuple[str, ...] = GATED, tolerance: float = TOLERANCE,
            relative: bool = False) -> list[Row]:
    """One row per gated value of the baseline (ok, drop or missing), per missing file, and per new value."""
    rows: list[Row] = []
    for name, values in sorted(baseline.items()):
        if name not in now or not values:  # a file without gated keys is checked for presence only
            rows.append(Row(name, "", None, None, "missing" if name not in now else "ok"))
            continue
        for key, before in sorted(values.items()):
            if key not in keys or is_wall_clock(key):
                continue
            after = number(lookup(now[name], key))
            allowed = tolerance * abs(before) if relative else tolerance
            # A tiny epsilon so that a drop of exactly the tolerance passes despite float rounding.
            status = "missing" if after is None else "drop" if before - after > allowed + 1e-12 else "ok"
            rows.append(Row(name, key, before, after, status))
    for name, values in sorted(select(now, keys).items()):
        new_keys = sorted(set(values) - set(baseline.get(name, {})))
        if name not in baseline and not values:
            rows.append(Row(name, "", None, None, "new"))
        rows += [Row(name, key, None, values[key], "new") for key in new_keys]
    return rows


def _fmt(value: float | None, signed: bool = False) -> str:
    """A metric with 4 decimals, or a dash."""
    return "-" if value is None else f"{value:+.4f}" if signed else f"{value:.4f}"


def render(rows: list[Row], source: str, keys: tuple[str, ...], tolerance: float, relative: bool = False,
           markdown: bool = False) -> str:
    """The gate's report: what is compared and how, a table, then each failure by name and a verdict."""
    kind = f"{tolerance:g} relative (a fraction of each baseline value)" if relative else f"{tolerance:g} absolute"
    header = (f"Metric gate against {source}: keys {', '.join(keys)} (higher is better), tolerance {kind}: "
              f"a drop larger than the tolerance fails. Wall-clock and non-numeric keys are never gated.")
    table = [("file", "key", "baseline", "now", "change", "status")]
    table += [(r.file, r.key or "(file)", _fmt(r.baseline), _fmt(r.now), _fmt(r.change, signed=True),
               r.status.upper() if r.failed else r.status) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(cells) + " |" for cells in table]
        lines.insert(1, "|" + "|".join(["---"] * 2 + ["---:"] * 3 + ["---"]) + "|")
    else:
        widths = [max(len(cells[i]) for cells in table) for i in range(len(table[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() for cells in table]
    failures = [r for r in rows if r.failed]
    notes = [failure_line(r, tolerance, relative) for r in failures]
    gated = sum(1 for r in rows if r.key and r.status != "new")
    new = sorted({r.file for r in rows if r.status == "new"})
    verdict = (f"FAIL: {len(failures)} problem(s)" if failures else "PASS") + \
        f": {gated} gated value(s) in {len({r.file for r in rows if r.status != 'new'})} baseline file(s)" + \
        (f"; new, not gated: {', '.join(new)}" if new else "")
    if markdown:  # the blank line ends the list, so the verdict is not read as part of its last item
        notes = [f"- **{n}**" for n in notes] + ([""] if notes else [])
        verdict = f"**{verdict}**"
    return "\n".join([header, "", *lines, "", *notes, verdict]) + "\n"


def failure_line(row: Row, tolerance: float, relative: bool = False) -> str:
    """One failure spelt out: file, key, baseline, now, drop and tolerance."""
    if row.key == "":
        return f"FAIL {row.file}: in the baseline but missing now"
    if row.now is None:
        return f"FAIL {row.file} {row.key}: baseline {_fmt(row.baseline)}, now missing or not a number"
    allowed = tolerance * abs(row.baseline or 0.0) if relative else tolerance
    return (f"FAIL {row.file} {row.key}: baseline {_fmt(row.baseline)}, now {_fmt(row.now)}, "
            f"drop {_fmt(-(row.change or 0.0))} > tolerance {allowed:.4f}")
