"""`data.source` made concrete: 'auto' (the default) becomes a local mirror where one is found, else Zenodo; 'zenodo'
becomes its record URL. The one place that reads the environment variables of the data source. Light on purpose
(no requests): the fix for a damaged clip (emo.fetch.refetch) asks it inside the feature workers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emo.core.errors import EmoError

AUTO = "auto"
ZENODO = "zenodo"
MIRROR_ENV = "EMO_RAVDESS"  # a folder of RAVDESS files that 'auto' uses first
API_ENV = "EMO_ZENODO_API"  # the records API that 'zenodo' means, for a Zenodo-compatible mirror or for tests
ZENODO_API = "https://zenodo.org/api/records"
MIRROR = "../shared/ravdess"  # relative to the project root: where our machines keep the lossless mirror


class SourceError(EmoError, ValueError):
    """An environment variable of the data source names something unusable."""


@dataclass(frozen=True)
class Resolved:
    """What `data.source` means here and now: `source` as emo.fetch.download takes it (a folder, or an http(s)
    record URL), `route` (mirror, folder or zenodo) and `reason`, the one line that says so."""

    setting: str
    source: str
    route: str
    reason: str

    def record(self) -> dict[str, str]:
        """What the download stage writes about its source (metrics/download.json)."""
        return {"setting": self.setting, "source": self.source, "route": self.route}


def is_url(source: str) -> bool:
    """Whether `source` is written as a URL (any scheme: emo.fetch.zenodo refuses all but http(s))."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.isalpha()


def zenodo_api(*, environ: Mapping[str, str]) -> str:
    """The records API that 'zenodo' means: $EMO_ZENODO_API if set, else zenodo.org's."""
    return (environ.get(API_ENV) or ZENODO_API).rstrip("/")


def record_url(*, record: int, environ: Mapping[str, str]) -> str:
    """The record JSON URL of `record` on the records API that 'zenodo' means."""
    return f"{zenodo_api(environ=environ)}/{record}"


def _zenodo(setting: str, record: int, environ: Mapping[str, str], why: str) -> Resolved:
    url = record_url(record=record, environ=environ)
    via = f" (${API_ENV})" if environ.get(API_ENV) else ""
    return Resolved(setting, url, ZENODO, f"data.source {setting}: Zenodo record {record}, {url}{via}{why}")


def resolve(setting: str, *, record: int, root: Path, environ: Mapping[str, str]) -> Resolved:
    """What `data.source` = `setting` means for the project at `root`. 'auto': the folder in $EMO_RAVDESS (an error
    if it is set but not a folder), else MIRROR beside the project if it exists, else Zenodo. 'zenodo': Zenodo's
    record (or $EMO_ZENODO_API's). A URL stays as it is; a folder is taken relative to `root`."""
    if setting == AUTO:
        chosen = environ.get(MIRROR_ENV, "")
        if chosen:
            folder = Path(chosen).expanduser()
            if not folder.is_dir():
                raise SourceError(f"${MIRROR_ENV}={chosen}: no such folder; point it at a folder of RAVDESS files, "
                                  "or unset it to use the mirror beside the project or Zenodo")
            return Resolved(setting, str(folder), "mirror", f"data.source auto: the local mirror {chosen} "
                                                            f"(${MIRROR_ENV})")
        if (root / MIRROR).is_dir():
            return Resolved(setting, MIRROR, "mirror", f"data.source auto: the local mirror {MIRROR} "
                                                       "(found beside the project)")
        return _zenodo(setting, record, environ, f" (no local mirror found; set {MIRROR_ENV}=/path to use one)")
    if setting == ZENODO:
        return _zenodo(setting, record, environ, "")
    if is_url(setting):
        return Resolved(setting, setting, ZENODO, f"data.source: the Zenodo-compatible record {setting}")
    return Resolved(setting, setting, "folder", f"data.source: the folder {setting}")


def absolute(setting: str, *, record: int, root: Path, environ: Mapping[str, str]) -> str:
    """`setting` as a copy of the project elsewhere must write it to mean the same data: a folder (found by 'auto'
    or named) made absolute against `root`; 'zenodo', a URL, or 'auto' that finds no folder, unchanged."""
    resolved = resolve(setting, record=record, root=root, environ=environ)
    if resolved.route == ZENODO:
        return setting
    return str((root / Path(resolved.source).expanduser()).resolve())
