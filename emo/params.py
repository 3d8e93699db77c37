"""Typed, validated view of `params.yaml`: unknown keys and wrong types are rejected."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from emo.errors import EmoError
from emo.ravdess import ACTORS, PARTS, ActorSplit


class ParamsError(EmoError, ValueError):
    """params.yaml holds a key we do not know or a value of the wrong type."""


@dataclass(frozen=True)
class DataParams:
    """What to get of RAVDESS and from where (the `data` section)."""

    source: str = "zenodo"  # 'zenodo', a Zenodo-compatible record URL, or a local folder
    record: int = 1188976
    parts: tuple[str, ...] = ("audio_speech",)
    actors: str | tuple[int, ...] = "all"
    video_modalities: tuple[int, ...] = (2,)
    keep_archives: bool = True
    retries: int = 5
    backoff_seconds: float = 2.0
    timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise ParamsError(f"data.parts: unknown part(s) {unknown}; valid parts: {', '.join(PARTS)}")
        if isinstance(self.actors, str) and self.actors != "all":
            raise ParamsError(f"data.actors: expected 'all' or a list of actor numbers, got {self.actors!r}")
        bad = [m for m in self.video_modalities if m not in (1, 2)]
        if bad:
            raise ParamsError(f"data.video_modalities: {bad} invalid; 1 = audio-video, 2 = video-only")

    @property
    def actor_list(self) -> tuple[int, ...]:
        """The actors to fetch, validated against 1-24."""
        actors = ACTORS if self.actors == "all" else tuple(sorted(set(self.actors)))
        unknown = sorted(set(actors) - set(ACTORS))
        if unknown:
            raise ParamsError(f"data.actors: unknown actor(s) {unknown}; actors are 1-24")
        return actors


@dataclass(frozen=True)
class SplitParams:
    """Speaker-independent split: held-out actors (the `split` section); the rest train."""

    val: tuple[int, ...] = (21, 22)
    test: tuple[int, ...] = (23, 24)

    def actor_split(self) -> ActorSplit:
        try:
            return ActorSplit(val=self.val, test=self.test)
        except ValueError as err:
            raise ParamsError(f"split: {err}") from None


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    data: DataParams = DataParams()
    split: SplitParams = SplitParams()


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint, turning YAML lists into tuples and dicts into dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, prefix=key)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, key)
            except ParamsError:
                continue
        raise ParamsError(f"{key}: {value!r} is not a valid value ({_describe(hint)})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        (item_hint, _ellipsis) = typing.get_args(hint)
        return tuple(_convert(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ParamsError(f"{key}: expected an integer, got {value!r}")
    if not isinstance(value, hint):
        raise ParamsError(f"{key}: expected {_describe(hint)}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def valid_keys(cls: type = Params, prefix: str = "") -> list[str]:
    """Every dotted key params.yaml may hold, e.g. `data.source`."""
    keys = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(hints[field.name]):
            keys += valid_keys(hints[field.name], prefix=f"{name}.")
        else:
            keys.append(name)
    return keys


def from_dict(cls: type, mapping: Any, prefix: str = "") -> Any:
    """Build a params dataclass from a mapping, rejecting keys the dataclass does not have."""
    where = prefix or "params.yaml"
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ParamsError(f"{where}: expected a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        full = [f"{prefix}.{k}" if prefix else str(k) for k in unknown]
        raise ParamsError(
            f"unknown parameter(s) {', '.join(full)} in params.yaml (a typo in `dvc exp run -S`?). "
            f"Valid keys: {', '.join(valid_keys(cls, prefix + '.' if prefix else ''))}")
    values = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in mapping.items()}
    return cls(**values)


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the project root") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return from_dict(Params, raw)
