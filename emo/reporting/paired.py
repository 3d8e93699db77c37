"""The paired metric gate (`emo check-metrics --paired`) and `emo compare`: two sets of per-clip predictions
(predictions/<model>.csv, now, at a git revision, or in a folder) compared model by model on the test clips both
scored, with a paired bootstrap interval of the difference in accuracy (emo.learn.uncertainty).

A model regresses when the whole interval lies below 0 (the drop is larger than the test set's noise) and the drop
is larger than the tolerance in points (a clear but negligible drop does not block a change).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from emo.core import git
from emo.core.errors import EmoError
from emo.learn import predictions, uncertainty
from emo.learn.predictions import Table
from emo.reporting.metric_docs import FETCH_HISTORY, git_output

TOLERANCE = 1.0  # points of accuracy: about one test clip of 120
FOLDER = "predictions"
TEST = "test"
FAILING = ("regression", "missing now", "no test clip in common")


class PairedError(EmoError):
    """Predictions that cannot be found or read."""


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what it is (for people) and its tables, model -> (where it was read, table)."""

    source: str
    tables: dict[str, tuple[str, Table]]


@dataclass(frozen=True)
class Outcome:
    """One model compared: B (now) minus A (before), on the test clips both scored."""

    model: str
    status: str  # regression | significant drop within the tolerance | no significant change | improvement |
    #              missing now | new, not gated | no test clip in common
    accuracy: uncertainty.Difference | None = None
    uar: uncertainty.Difference | None = None
    before: float | None = None  # A's accuracy (mean over its runs) on the shared clips
    runs: tuple[int, int] = (0, 0)

    @property
    def failed(self) -> bool:
        return self.status in FAILING


def bootstrap(path: str | Path = "params.yaml") -> tuple[int, int]:
    """The resamples and seed of the intervals: params.yaml's `evaluate` section, its defaults without the file."""
    from emo.core import params

    section = params.load(path).evaluate if Path(path).is_file() else params.EvaluateParams()
    return section.bootstrap, section.seed


def _models(names: list[str]) -> dict[str, str]:
    """model -> file name, for the files directly under the predictions folder (not crosscorpus/...)."""
    out = {}
    for name in names:
        path = PurePosixPath(name)
        if path.suffix == ".csv" and len(path.parts) == 2:
            out[path.stem] = name
    return dict(sorted(out.items()))


def current(folder: str | Path = FOLDER, where: str = "--predictions-dir {}",
            fix: str = "run the pipeline first (make repro), or point --predictions-dir at a folder of *.csv "
            "predictions") -> Side:
    """The *.csv predictions directly in a folder (the working tree's predictions/ by default)."""
    folder = Path(folder)
    where = where.format(folder)
    if not folder.is_dir():
        raise PairedError(f"{where} {'is not a folder' if folder.exists() else 'does not exist'}; {fix}")
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise PairedError(f"{where} holds no *.csv predictions; {fix}")
    return Side(where, {p.stem: (str(p), predictions.read(p)) for p in files})


def in_dir(folder: str | Path) -> Side:
    """The predictions of another copy of the project: FOLDER/predictions/*.csv."""
    return current(Path(folder) / FOLDER, f"--baseline-dir {folder}: {{}}",
                   "give the root of a copy of the project whose evaluate stages ran (it holds predictions/*.csv)")


def _git(*args: str, failure: str) -> bytes:
    return git_output(*args, failure=failure, error=PairedError,
                      no_git="git cannot be run here ({reason}); install git, or use --baseline-dir DIR")


def resolve(rev: str) -> str:
    """The commit of a revision: a branch, tag, commit, or a DVC experiment's name (`dvc exp show`; its ref is
    refs/exps/.../<name>, which `git for-each-ref refs/exps` lists)."""
    _git("rev-parse", "--git-dir", failure=f"{rev}: the current folder is not in a git repository; run it in the "
         "project's checkout")
    try:
        return git.text(None, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except git.GitError:
        pass
    refs = _git("for-each-ref", "--format=%(refname)", "refs/exps", failure="cannot list DVC experiments").decode()
    named = [ref for ref in refs.split() if ref.rsplit("/", 1)[-1] == rev]
    if len(named) == 1:
        return git.text(None, "rev-parse", "--verify", f"{named[0]}^{{commit}}")
    if len(named) > 1:
        raise PairedError(f"{rev}: {len(named)} DVC experiments have this name; give one's full ref: "
                          + ", ".join(named))
    raise PairedError(f"{rev}: no such revision or DVC experiment in this git repo; check its name (git branch -a, "
                      f"dvc exp show), or fetch it (git fetch origin; {FETCH_HISTORY})")


def at_rev(rev: str, folder: str = FOLDER) -> Side:
    """The predictions/*.csv committed at a revision, each read with `git show COMMIT:./path` after its size is
    checked (`git ls-tree -l`)."""
    commit = resolve(rev)
    listed = _git("ls-tree", "-r", "-l", "-z", commit, "--", folder,
                  failure=f"{rev}: cannot list its {folder}/ folder; fetch the full history ({FETCH_HISTORY})")
    sizes = {}
    for entry in listed.split(b"\0"):
        if b"\t" in entry:
            meta, name = entry.split(b"\t", 1)
            size = meta.split()[-1]
            sizes[os.fsdecode(name)] = int(size) if size.isdigit() else 0
    models = _models(list(sizes))
    if not models:
        raise PairedError(f"no {folder}/*.csv committed at {rev}: nothing to pair with; run it in the project's root "
                          f"folder, compare with a revision whose pipeline wrote predictions, or use the plain gate "
                          f"(without --paired)")
    fix = "commit valid predictions there (re-run the evaluate stages), or compare with another revision"
    tables = {}
    for model, name in models.items():
        where = f"{rev}:{name}"
        if sizes[name] > predictions.MAX_BYTES:
            raise PairedError(f"predictions file {where} is larger than {predictions.MAX_BYTES // 2**20} MiB, far "
                              f"too large for predictions; {fix}")
        data = _git("show", f"{commit}:./{name}", failure=f"predictions file {where} cannot be read")
        tables[model] = (where, predictions.parse(data, where, fix))
    return Side(f"git revision {rev}", tables)


def compare(before: Side, now: Side, *, samples: int, seed: int, tolerance: float = TOLERANCE) -> list[Outcome]:
    """Per model of either side: its outcome, now (B) minus before (A), on the test clips both scored."""
    outcomes = []
    for model in sorted(set(before.tables) | set(now.tables)):
        if model not in now.tables:
            outcomes.append(Outcome(model, "missing now"))
            continue
        if model not in before.tables:
            outcomes.append(Outcome(model, "new, not gated"))
            continue
        (where_a, table_a), (where_b, table_b) = before.tables[model], now.tables[model]
        clips_a, labels_a, right_a, runs_a = predictions.runs_matrix(table_a, TEST, where_a)
        clips_b, _, right_b, runs_b = predictions.runs_matrix(table_b, TEST, where_b)
        shared = sorted(set(clips_a.tolist()) & set(clips_b.tolist()))
        if not shared:
            outcomes.append(Outcome(model, "no test clip in common", runs=(len(runs_a), len(runs_b))))
            continue
        rows_a, rows_b = clips_a.searchsorted(shared), clips_b.searchsorted(shared)
        a, b, labels = right_a[rows_a], right_b[rows_b], labels_a[rows_a]
        accuracy = uncertainty.paired_difference(a, b, samples=samples, seed=seed)
        uar = uncertainty.paired_difference(a, b, samples=samples, seed=seed, labels=labels)
        outcomes.append(Outcome(model, verdict(accuracy, tolerance), accuracy, uar, float(a.mean()),
                                (len(runs_a), len(runs_b))))
    return outcomes


def verdict(difference: uncertainty.Difference, tolerance: float) -> str:
    """A drop whose whole interval is below 0 and larger than `tolerance` points regresses."""
    if difference.high < 0:
        return "regression" if -100 * difference.difference > tolerance + 1e-9 else \
            "significant drop within the tolerance"
    return "improvement" if difference.low > 0 else "no significant change"


def points(value: float, sign: bool = False) -> str:
    """A fraction in points with one decimal and a true minus sign, e.g. −3.3 or +1.2."""
    text = f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"
    if text.lstrip("+-") == "0.0":
        text = "+0.0" if sign else "0.0"
    return text.replace("-", "−")


def _difference(name: str, d: uncertainty.Difference) -> str:
    return (f"{name} {points(d.difference, sign=True)} points, {round(100 * d.confidence)} % CI "
            f"[{points(d.low)}, {points(d.high)}]")


def _p(value: float) -> str:
    return f"p {value:.3f}" if value >= 0.001 else "p < 0.001"


def line(outcome: Outcome, uar: bool = False, status: str | None = None) -> str:
    """One model's line, e.g. `audio_logmel_balanced: accuracy −3.3 points, 95 % CI [−6.1, −0.6]: regression
    (65.8 → 62.5 %, 120 test clips, 3 vs 3 seeds, p 0.004)`; `status` in place of the outcome's."""
    d, status = outcome.accuracy, status or outcome.status
    if d is None:
        runs = f" ({outcome.runs[0]} vs {outcome.runs[1]} runs)" if any(outcome.runs) else ""
        return f"{outcome.model}: {status}{runs}"
    before = outcome.before or 0.0
    extra = f"; {_difference('UAR', outcome.uar)}" if uar and outcome.uar else ""
    return (f"{outcome.model}: {_difference('accuracy', d)}{extra}: {status} ({points(before)} → "
            f"{points(before + d.difference)} %, {d.clips} test clips, {outcome.runs[0]} vs {outcome.runs[1]} seeds, "
            f"{_p(d.p_value)})")


def describe(samples: int, seed: int) -> str:
    """What is compared and how the interval is drawn."""
    return (f"test clips both sides scored, all seeds of each side; 95 % percentile bootstrap over those clips "
            f"({samples} resamples, seed {seed}: params.yaml evaluate), each clip's seeds kept together")


def render_gate(outcomes: list[Outcome], source: str, *, samples: int, seed: int, tolerance: float,
                markdown: bool = False) -> str:
    """The paired gate's report: how it decides, one line per model, then the verdict."""
    header = (f"Paired metric gate against {source}: per model, accuracy now minus then on the "
              f"{describe(samples, seed)}. A model fails when the whole interval is below 0 and the drop exceeds "
              f"{tolerance:g} point(s), or when it is missing now.")
    lines = [line(o) for o in outcomes]
    failures = [o for o in outcomes if o.failed]
    compared = sum(1 for o in outcomes if o.accuracy is not None)
    verdict_line = ("FAIL: " + ", ".join(f"{o.model} ({o.status})" for o in failures) if failures else
                    f"PASS: {compared} model(s) compared, none dropped significantly by more than {tolerance:g} "
                    "point(s)")
    if markdown:  # the blank line ends the list, so the verdict is not read as part of its last item
        lines = [f"- **{text}**" if o.failed else f"- {text}" for o, text in zip(outcomes, lines, strict=True)]
        verdict_line = f"**{verdict_line}**"
    return "\n".join([header, "", *lines, "", verdict_line]) + "\n"


COMPARED = {"regression": "significant drop", "significant drop within the tolerance": "significant drop",
            "improvement": "significant gain"}


def render_compare(outcomes: list[Outcome], a: str, b: str, *, samples: int, seed: int) -> str:
    """`emo compare`'s report: per model B minus A, accuracy and UAR with their intervals."""
    named = {"missing now": f"only in {a}", "new, not gated": f"only in {b}"}
    lines = [line(o, uar=True, status=COMPARED.get(o.status) or named.get(o.status)) for o in outcomes]
    return "\n".join([f"{b} minus {a}, per model, on the {describe(samples, seed)}.", "", *lines]) + "\n"


def gate(rev: str | None, baseline_dir: str | None, predictions_dir: str | Path = FOLDER,
         tolerance: float | None = None, markdown: bool = False) -> tuple[str, bool]:
    """`emo check-metrics --paired`: the report of the predictions now against those at `rev` (or in
    `baseline_dir`), and whether any model failed."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    samples, seed = bootstrap()
    now = current(predictions_dir)
    before = at_rev(rev) if rev else in_dir(baseline_dir)
    outcomes = compare(before, now, samples=samples, seed=seed, tolerance=tolerance)
    text = render_gate(outcomes, before.source, samples=samples, seed=seed, tolerance=tolerance, markdown=markdown)
    return text, any(outcome.failed for outcome in outcomes)


def revisions(rev_a: str, rev_b: str | None, predictions_dir: str | Path = FOLDER) -> str:
    """`emo compare`: per model, REV_B (or the working tree's predictions) minus REV_A."""
    samples, seed = bootstrap()
    before = at_rev(rev_a)
    now = at_rev(rev_b) if rev_b else current(predictions_dir)
    outcomes = compare(before, now, samples=samples, seed=seed, tolerance=0.0)
    return render_compare(outcomes, rev_a, rev_b or f"the working tree ({predictions_dir})", samples=samples,
                          seed=seed)
