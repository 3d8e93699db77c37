"""A metrics file in two parts: the headline numbers DVC tabulates, and the rest in `<name>_detail.json` beside it.

`dvc metrics show`, `dvc metrics diff` and `dvc exp show` make a column of every value of a file declared under
`metrics:` in dvc.yaml, strings and booleans included: the spread over seeds, per-seed and per-class values, counts,
timings and notes made hundreds of columns around the few a user compares. So each writer names its headline keys
(dotted patterns, `*` for any part: `models.*.test.after.ece`); `write` keeps those in the declared file and puts the
rest, nested the same way, in its detail file (a plain `outs:` entry in dvc.yaml, cache false: in git, shown by no
DVC metrics command); `read` merges the two back, so a reader gets the whole document, as one file held it before.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from emo.core.io import write_json

Doc = dict[str, Any]
#: Kept in every declared file whatever its writer's patterns: the device a stage computed on (issue 22 item 8), one
#: short column for every file, so a changed number and a changed device show side by side.
ALWAYS = ("device",)


def detail_path(path: Path) -> Path:
    """Where the rest of metrics/<name>.json goes: metrics/<name>_detail.json."""
    return path.with_name(f"{path.stem}_detail{path.suffix}")


def is_headline(key: str, patterns: tuple[str, ...]) -> bool:
    """Whether a dotted key (`ensemble.accuracy`) matches one of a writer's headline patterns, or is ALWAYS kept."""
    return key in ALWAYS or any(fnmatchcase(key, pattern) for pattern in patterns)


def split(doc: Doc, patterns: tuple[str, ...], prefix: str = "") -> tuple[Doc, Doc]:
    """(headline, detail): the values whose dotted keys match `patterns`, and all others, each nested as in `doc`.
    A list or an empty mapping is one value: DVC shows no list, and a reader needs it whole."""
    headline: Doc = {}
    detail: Doc = {}
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            top, rest = split(value, patterns, f"{dotted}.")
            if top:
                headline[key] = top
            if rest:
                detail[key] = rest
        elif is_headline(dotted, patterns):
            headline[key] = value
        else:
            detail[key] = value
    return headline, detail


def merge(detail: Doc, headline: Doc) -> Doc:
    """The document `split` cut in two, whole again."""
    whole = dict(detail)
    for key, value in headline.items():
        both = isinstance(value, dict) and isinstance(whole.get(key), dict)
        whole[key] = merge(whole[key], value) if both else value
    return whole


def write(path: Path, doc: Doc, patterns: tuple[str, ...]) -> None:
    """The headline values to `path` (declared under `metrics:`), the rest to its detail file."""
    headline, detail = split(doc, patterns)
    write_json(path, headline)
    write_json(detail_path(path), detail)


def read(path: Path) -> Doc | None:
    """A metrics file merged with its detail file when there is one; None when the metrics file is absent."""
    if not path.is_file():
        return None
    headline = json.loads(path.read_text())
    detail = detail_path(path)
    return merge(json.loads(detail.read_text()), headline) if detail.is_file() else headline
