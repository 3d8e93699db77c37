"""The documents the metric gate compares: metrics/*.json now, as committed at a git revision, or a baseline file
(read bounded and strictly, written whole or not at all), and the gated numbers picked out of them."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

from emo.core import git, reading
from emo.core.errors import EmoError
from emo.core.io import writing

GATED = ("accuracy", "uar", "macro_f1")  # higher is better for every gated key
METRICS = "metrics"  # a baseline names each file metrics/<its path under --metrics-dir>, wherever that folder is
MAX_BYTES = 16 * 2**20  # far above any metrics file; bounds the memory a baseline or metrics file can take
BASELINE_FIX = "give a baseline JSON file; `emo check-metrics --write-baseline FILE` writes one"
METRICS_FIX = "re-run the stage that writes it (make repro), or point --metrics-dir at a good copy"
OTHER_BASELINE = "compare with another revision or a --baseline FILE"
FETCH_HISTORY = "in CI, actions/checkout with fetch-depth: 0"  # a shallow clone lacks origin/main and its files

Docs = dict[str, Any]  # metrics file name (e.g. "metrics/audio_mfcc_balanced.json") -> its parsed JSON
Baseline = dict[str, dict[str, float]]  # metrics file name -> gated key -> baseline value


class GateError(EmoError):
    """The baseline or the metrics cannot be read."""


def is_wall_clock(key: str) -> bool:
    """Timings depend on the machine and its load, so they are never gated."""
    last = key.rsplit(".", 1)[-1]
    return last == "seconds" or last.endswith("_seconds")


def number(value: Any) -> float | None:
    """The value as a float if it is a real, finite number (not a bool, string, list, NaN or beyond float range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return value if math.isfinite(value) else None


def lookup(doc: Any, key: str) -> Any:
    """The value at a key such as `recall.neutral`: a literal key with dots, else a path through nested objects."""
    if not isinstance(doc, dict):
        return None
    if key in doc:
        return doc[key]
    parts = key.split(".")
    for cut in range(1, len(parts)):
        head, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
        if head in doc and (found := lookup(doc[head], rest)) is not None:
            return found
    return None


def _show(value: Any) -> str:
    """A JSON value as the user wrote it, cut short enough for a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read(path: Path, where: str, fix: str) -> bytes:
    """The bytes of a regular file (never a FIFO or device: those would block or never end), or a GateError."""
    return reading.read_regular(path, limit=MAX_BYTES, where=where, fix=fix, kind="metrics", error=GateError)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a repeated key is refused, since the last copy would silently win."""
    doc = dict(pairs)
    if len(doc) < len(pairs):
        repeated = next(key for i, (key, _) in enumerate(pairs) if key in dict(pairs[:i]))
        raise ValueError(f"the key {json.dumps(repeated)} appears twice")
    return doc


def _parse(data: bytes, where: str, fix: str) -> dict[str, Any]:
    """A JSON object from a file's bytes, or a GateError naming where they came from."""
    if not data.strip():
        raise GateError(f"{where} is empty; {fix}")
    try:
        doc = json.loads(data, object_pairs_hook=_unique)
    except UnicodeDecodeError:
        raise GateError(f"{where} is not a UTF-8 text file (binary?); {fix}") from None
    except RecursionError:
        raise GateError(f"{where} is nested too deeply to read; {fix}") from None
    except ValueError as err:  # JSONDecodeError, a repeated key, an integer of thousands of digits
        reason = str(err).split(";")[0]  # what follows a ';' is Python's advice to programmers
        raise GateError(f"{where} is not valid JSON ({reason}); {fix}") from None
    if not isinstance(doc, dict):
        raise GateError(f"{where} holds {_show(doc)}, expected a JSON object {{...}}; {fix}")
    return doc


def _load(path: Path, where: str, fix: str) -> dict[str, Any]:
    """The JSON object in a file, or a GateError: `where`, what is wrong, then `fix`."""
    return _parse(_read(path, where, fix), where, fix)


def _name(path: PurePosixPath | Path) -> str:
    """How a baseline names a metrics file at `path` under the metrics folder."""
    return (PurePosixPath(METRICS) / path.as_posix()).as_posix()


def current(metrics_dir: str | Path = METRICS) -> Docs:
    """Every *.json under the metrics folder, each named metrics/<its path there>, so a copy elsewhere matches too."""
    folder = Path(metrics_dir)
    fix = "run the pipeline first (make repro), or point --metrics-dir at the folder that holds the metrics JSON files"
    if not folder.is_dir():
        raise GateError(f"--metrics-dir {folder} {'is a file' if folder.exists() else 'does not exist'}; {fix}")
    paths = sorted(folder.rglob("*.json"))
    if not paths:
        raise GateError(f"--metrics-dir {folder} holds no *.json files; {fix}")
    return {_name(p.relative_to(folder)): _load(p, f"metrics file {p}", METRICS_FIX) for p in paths}


NO_GIT = "--rev needs git, which cannot be run here ({reason}); install git, or use --baseline FILE"


def git_output(*args: str, failure: str, error: type[EmoError] | None = None, no_git: str = NO_GIT) -> bytes:
    """Output of a git command run in the current directory, or `error` (GateError): `failure`, then git's own
    reason; `no_git` (with {reason}) when git cannot be run at all. The paired gate reads with it too."""
    error = error or GateError
    try:
        return git.run(None, *args)
    except git.GitError as err:
        if err.missing:
            raise error(no_git.format(reason=err.reason)) from None
        raise error(failure + (f" (git: {err.reason})" if err.reason else "")) from None


def at_rev(rev: str, folder: str = METRICS) -> Docs:
    """The metrics files committed at a git revision under ./folder, read with `git show COMMIT:./path`."""
    git_output("rev-parse", "--git-dir", failure=f"--rev {rev}: the current folder is not in a git repository; run "
               "it in the project's checkout, or use --baseline FILE")
    commit = git_output("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
                        failure=f"--rev {rev}: no such revision in this git repo; check its name (git branch -a), or "
                        f"fetch it (git fetch origin; {FETCH_HISTORY})").decode().strip()
    listed = git_output("ls-tree", "-r", "-z", "--name-only", commit, "--", folder,
                        failure=f"--rev {rev}: cannot list its {folder}/ folder; fetch the full history "
                        f"({FETCH_HISTORY})")
    names = [os.fsdecode(n) for n in listed.split(b"\0") if n.endswith(b".json")]
    if not names:
        raise GateError(f"no {folder}/*.json committed at {rev}: nothing to compare with; run it in the project's "
                        f"root folder (it reads ./{folder}), or {OTHER_BASELINE}")
    fix = f"commit valid metrics there, or {OTHER_BASELINE}"
    docs: Docs = {}
    for name in names:
        where = f"metrics file {rev}:{name}"
        data = git_output("show", f"{commit}:./{name}", failure=f"{where} cannot be read")
        docs[_name(PurePosixPath(name).relative_to(folder))] = _parse(data, where, fix)
    return docs


def select(docs: Docs, keys: tuple[str, ...]) -> Baseline:
    """The numeric gated keys of each metrics file; a file with none still counts (it must keep existing)."""
    picked: Baseline = {}
    for name, doc in docs.items():
        values = {k: number(lookup(doc, k)) for k in keys if not is_wall_clock(k)}
        picked[name] = {k: v for k, v in values.items() if v is not None}
    return picked


def read_baseline(path: str | Path) -> Baseline:
    """A baseline file {metrics file: {key: number}}, refused unless every value is a finite number; timings dropped."""
    where = f"baseline {path}"
    raw = _load(Path(path), where, BASELINE_FIX)
    if not raw:
        raise GateError(f"{where} is empty: nothing to compare with; {BASELINE_FIX}")
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise GateError(f"{where}: {name} holds {_show(values)}, expected {{key: number}}, e.g. "
                            f'{{"accuracy": 0.5}}; {BASELINE_FIX}')
        for key, value in values.items():
            if number(value) is None:  # dropping it would leave that metric ungated without a word
                raise GateError(f"{where}: {name} {key} is {_show(value)}, not a finite number; write a number "
                                "there, or rewrite the baseline with --write-baseline")
    return {name: {k: float(v) for k, v in values.items() if not is_wall_clock(k)} for name, values in raw.items()}


def require_gated(baseline: Baseline, keys: tuple[str, ...], source: str) -> None:
    """Refuse a baseline without a number for some key in any file: that key would pass without being compared."""
    present = {key for values in baseline.values() for key in values}
    if absent := [key for key in keys if key not in present]:
        raise GateError(f"{source} has no number under {', '.join(absent)} in any file, so nothing would be "
                        "compared; use a baseline with a number there, or fix --keys (a misspelt key, or one to "
                        "leave out)")


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step: a crash or a full disk leaves the old file or the new one, never half of one."""
    with writing(path) as temporary:
        with open(temporary, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # whatever the umask: a baseline is meant to be committed and shared


def write_baseline(path: str | Path, docs: Docs, keys: tuple[str, ...] = GATED,
                   metrics_dir: str | Path = METRICS) -> Baseline:
    """Write the gated keys of the current metrics as a baseline file, and return them."""
    path = Path(path)
    where = f"--write-baseline {path}"
    if path.is_dir():
        raise GateError(f"{where} is a folder; give a file name, e.g. {path / 'baseline.json'}")
    if path.resolve().is_relative_to(Path(metrics_dir).resolve()):  # it would overwrite or join the metrics
        raise GateError(f"{where} is inside --metrics-dir {metrics_dir}; write the baseline elsewhere")
    baseline = select(docs, keys)
    require_gated(baseline, keys, f"the metrics in {metrics_dir}")
    try:
        _write_atomically(path, json.dumps(baseline, indent=2, sort_keys=True) + "\n")
    except (FileExistsError, NotADirectoryError):  # mkdir or open met a file where a folder belongs
        raise GateError(f"{where} cannot be written: a folder on its path is a file; give another path") from None
    except OSError as err:
        raise GateError(f"{where} cannot be written ({err.strerror or err}); give a writable file path") from None
    return baseline
