"""Metric gate: compare metrics/*.json with a baseline and fail when a metric drops beyond a tolerance."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from emo.reporting.metric_docs import GATED, Baseline, Docs, is_wall_clock, lookup, number, select

TOLERANCE = 0.02  # absolute: one or two test clips of 60-120 may flip between machines without a real regression
FAILING = ("drop", "missing")


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


def tolerance_arg(text: str) -> float:
    """--tolerance as a float: NaN would pass every drop and a negative one fail every value, so both are refused."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give a finite number >= 0, e.g. 0.02 (with "
                                         "--relative, a fraction of each baseline value, e.g. 0.05)")
    return value


def key_arg(text: str) -> str:
    """A --keys entry: a name, dotted for a nested one, that is not a timing."""
    if any(not part or part != part.strip() for part in text.split(".")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a key: give a name such as accuracy, dotted for a "
                                         "nested one such as recall.neutral")
    if is_wall_clock(text):
        raise argparse.ArgumentTypeError(f"{text}: wall-clock times depend on the machine and are never gated")
    return text


def rev_arg(text: str) -> str:
    """A --rev value; one starting with '-' would reach git as an option."""
    if not text.strip() or text.startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a revision: give a branch, tag or commit, e.g. origin/main")
    return text


def path_arg(text: str) -> str:
    """A file or folder argument; an empty one would silently mean the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path: give a file or folder name")
    return text


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
        # a `|` inside a file or key name would end its cell and shift every cell after it
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in table]
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
