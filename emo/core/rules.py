"""Declared rules for the values of typed config dataclasses, checked in one place, and YAML read as DVC reads
it: what `emo.core.params` builds `params.yaml`'s sections with.

Each field's allowed values are declared beside it (`allowed(default, ...)`, a `Rule`) and checked in one place,
`_check`: when a file is read (naming the full key, e.g. `train.ours.lr`) and when a section is built.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Union

import yaml

from emo.core.errors import EmoError
from emo.core.text import ECHO_LIMIT, capped, echo, printable


class ParamsError(EmoError, ValueError):
    """params.yaml holds a key we do not know, or a value of the wrong type or out of range."""


@dataclass(frozen=True)
class Rule:
    """The values one key allows; for a list, each item (of a list of lists too)."""

    low: float | None = None
    high: float | None = None
    above: bool = False  # low itself is not allowed
    below: bool = False  # high itself is not allowed
    nonempty: bool = False  # a list needs an item, a string a non-blank character
    unique: bool = False  # a list may not repeat an item
    pattern: str = ""  # a string must match this regular expression whole
    words: str = ""  # the strings allowed, in words
    note: str = ""  # what the numbers mean, said after the range

    def allows(self, number: float) -> bool:
        """Whether a number lies in the range."""
        return ((self.low is None or (number > self.low if self.above else number >= self.low))
                and (self.high is None or (number < self.high if self.below else number <= self.high)))

    def describe(self, hint: Any) -> str:
        """The allowed values in words, e.g. 'an integer in 1..24' or 'a number in [0, 1)'."""
        if hint is bool:
            return "true or false"
        if hint is str:
            return self.words or ("a non-empty string" if self.nonempty else "a string")
        kind = "an integer" if hint is int else "a number"
        if self.low is not None and self.high is not None:
            kind += (f" in {self.low}..{self.high}" if hint is int and not (self.above or self.below) else
                     f" in {'(' if self.above else '['}{self.low}, {self.high}{')' if self.below else ']'}")
        elif self.low is not None:
            kind += f" {'>' if self.above else '>='} {self.low}"
        elif self.high is not None:
            kind += f" {'<' if self.below else '<='} {self.high}"
        return kind + (f" ({self.note})" if self.note else "")


ANY = Rule()


def allowed(default: Any, **rule: Any) -> Any:
    """A dataclass field with its default and its Rule."""
    return dataclasses.field(default=default, metadata={"rule": Rule(**rule)})


def one_of(default: Any, options: tuple[str, ...], **rule: Any) -> Any:
    """A field whose value (each item of a list) is one of `options`."""
    return allowed(default, pattern="|".join(map(re.escape, options)), words=f"one of {', '.join(options)}", **rule)


def _rule(field: dataclasses.Field) -> Rule:
    return field.metadata.get("rule", ANY)


def show(value: Any) -> str:
    """A value as the message shows it: one line of at most `emo.core.text.ECHO_LIMIT` characters, control
    characters escaped. A huge int, a recursive YAML alias or an anchor bomb (a list of aliases of lists of aliases:
    billions of items as references to a few) stays short, and costs no more to show than its first 8**3 items.
    reprlib has already shortened what it shows (`...`), so a cut one ends in "…" without a length."""
    shown = printable(_REPR.repr(value))
    return shown if len(shown) <= ECHO_LIMIT else f"{shown[:ECHO_LIMIT]}…"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8
_REPR.maxlevel = 3  # reprlib's 6 levels of 8 items show 8**6 leaves: a megabyte for an anchor bomb


def _scalar(hint: Any) -> Any:
    """The type of the numbers or strings a hint holds: int for `str | tuple[int, ...]` or `tuple[tuple[int]]`."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        lists = [option for option in typing.get_args(hint) if typing.get_origin(option) is tuple]
        return _scalar(lists[0]) if lists else hint
    return _scalar(typing.get_args(hint)[0]) if typing.get_origin(hint) is tuple else hint


def _check(value: Any, hint: Any, rule: Rule, key: str) -> None:
    """Raise a ParamsError naming `key`, the value and the allowed values when `value` breaks `rule`."""
    if isinstance(value, tuple):
        if rule.nonempty and not value:
            raise ParamsError(f"{key}: [] is empty; expected at least one value, each {rule.describe(_scalar(hint))}")
        if rule.unique and len(set(value)) != len(value):
            repeated = sorted({v for v in value if value.count(v) > 1})
            raise ParamsError(f"{key}: {show(list(value))} repeats {show(repeated)}; expected each value once")
        for i, item in enumerate(value):
            _check(item, _scalar(hint), dataclasses.replace(rule, nonempty=False, unique=False), f"{key}[{i}]")
        return
    if isinstance(value, str):
        if (rule.nonempty and not value.strip()) or (rule.pattern and not re.fullmatch(rule.pattern, value)):
            raise ParamsError(f"{key}: {show(value)} is not allowed; expected {rule.describe(str)}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    expected = rule.describe(hint if hint in (int, float) else type(value))
    if not math.isfinite(value):
        raise ParamsError(f"{key}: {show(value)} is not a finite number; expected {expected}")
    if not rule.allows(value):
        raise ParamsError(f"{key}: {show(value)} is out of range; expected {expected}")


class Checked:
    """A params section whose fields are checked against their Rules when it is built."""

    KEY: ClassVar[str] = ""  # the section's key in params.yaml, for messages

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for field in dataclasses.fields(self):
            _check(getattr(self, field.name), hints[field.name], _rule(field), f"{self.KEY}.{field.name}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types (annotations are strings under `from __future__ import annotations`)."""
    return typing.get_type_hints(cls)


def _convert(value: Any, hint: Any, key: str, base: Any = None, rule: Rule = ANY) -> Any:
    """Check `value` against a type hint, turning YAML lists into tuples and dicts into dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, prefix=key, base=base)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, key, rule=rule)
            except ParamsError:
                continue
        raise ParamsError(f"{key}: expected {' or '.join(_expected(o, rule) for o in typing.get_args(hint))}, "
                          f"got {show(value)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected {_expected(hint, rule)}, got {show(value)}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(v, item, f"{key}[{i}]", rule=rule) for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float
            raise ParamsError(f"{key}: {show(value)} is out of range; expected {rule.describe(float)}") from None
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):  # YAML's true is no integer
        raise ParamsError(f"{key}: expected {_expected(hint, rule)}, got {show(value)}")
    return value


def _expected(hint: Any, rule: Rule) -> str:
    """What a key holds, in words: 'an integer >= 0', 'a list, each item an integer in 1..24'."""
    if typing.get_origin(hint) is tuple:
        return f"a list, each item {_expected(typing.get_args(hint)[0], rule)}"
    return rule.describe(hint)


def keys_of(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key a config dataclass may hold, e.g. `data.source`."""
    keys = []
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(hints[field.name]):
            keys += keys_of(hints[field.name], prefix=f"{name}.")
        else:
            keys.append(name)
    return keys


def from_dict(cls: type, mapping: Any, prefix: str = "", base: Any = None) -> Any:
    """Build a params dataclass from a mapping, rejecting keys the dataclass does not have.

    Keys the mapping leaves out keep their value in `base` (by default the dataclass's defaults).
    """
    where = prefix or "params.yaml"
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ParamsError(f"{where}: expected a mapping of keys to values, got {show(mapping)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields), key=str)  # YAML keys may be numbers or null too
    if unknown:
        full = [f"{prefix}.{k}" if prefix else str(k) for k in unknown]
        raise ParamsError(
            f"unknown parameter(s) {echo(', '.join(full))} in params.yaml (a typo in `dvc exp run -S`?). "
            f"Valid keys: {', '.join(keys_of(cls, prefix + '.' if prefix else ''))}")
    base = base if base is not None else cls()
    values = {}
    for name, value in mapping.items():
        key, rule = f"{prefix}.{name}" if prefix else name, _rule(fields[name])
        values[name] = _convert(value, hints[name], key, getattr(base, name), rule)
        _check(values[name], hints[name], rule, key)  # here, where the full key (train.ours or .paper) is known
    return dataclasses.replace(base, **values)


class _Loader(yaml.SafeLoader):
    """params.yaml as DVC reads it (YAML 1.2): `1e-4` is a number, not PyYAML's string, and a key given twice in
    one mapping is an error, not the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":  # `<<` may repeat keys
                if (key.tag, key.value) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key.value!r}", key.start_mark)
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


class _PlainLoader(_Loader):
    """YAML without anchors and aliases: what a value on the command line or a variant's overlay needs. Their
    changes are copied through JSON, which would write out every item an anchor bomb refers to."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent) or getattr(self.peek_event(), "anchor", None):
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not allowed here; "
                                              "write the values out", self.peek_event().start_mark)
        return super().compose_node(parent, index)


def read_yaml(path: str | Path, *, aliases: bool = True) -> Any:
    """A YAML file's content, read as DVC reads params (YAML 1.2 numbers, no repeated keys); one-line errors.
    With `aliases=False` anchors and aliases are refused too."""
    path = Path(path)
    where = capped(printable(str(path)))
    try:
        with open(path, encoding="utf-8") as handle:  # a stream: YAML's messages then name the file
            raw = yaml.load(handle, Loader=_Loader if aliases else _PlainLoader)
    except FileNotFoundError:
        raise ParamsError(f"{where}: not found; run from the project root") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ParamsError(f"{where}: cannot read it ({_one_line(err)}); restore it with "
                          f"`git checkout {where}`") from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # ValueError: an int of over 4300 digits
        raise ParamsError(f"{where}: not valid YAML ({_one_line(err)}); fix it or restore it with "
                          f"`git checkout {where}`") from None
    if raw is None:
        raise ParamsError(f"{where}: empty; restore it with `git checkout {where}`")
    return raw


def yaml_value(text: str, where: str) -> Any:
    """One value written in YAML (`[0, 1]`, `0.01`, `official`), read as params.yaml is, for `where` (e.g. "--set
    'train.seeds=[0,'"): one-line errors for bad YAML, a tag PyYAML's safe loader refuses (`!!python/...`),
    anchors and aliases, and values params.yaml cannot hold (dates, sets, bytes)."""
    try:
        value = yaml.load(text, Loader=_PlainLoader)
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        problem = err.problem if isinstance(err, yaml.MarkedYAMLError) and err.problem else _one_line(err)
        raise ParamsError(f"{where}: not a YAML value ({capped(printable(' '.join(problem.split())))}); write a "
                          "number, true/false, a string or a list such as [0, 1]") from None
    if (odd := _odd(value)) is not None:
        raise ParamsError(f"{where}: {show(odd)} is a {type(odd).__name__}, which params.yaml cannot hold; write "
                          "a number, true/false, a string (quoted: '2024-01-01') or a list such as [0, 1]")
    return value


def _odd(value: Any) -> Any:
    """The first item of a YAML value that is not a number, string, boolean, null, list or mapping; None if none."""
    if isinstance(value, (dict, list)):
        items = [*value, *value.values()] if isinstance(value, dict) else value
        return next((o for o in map(_odd, items) if o is not None), None)
    return None if value is None or isinstance(value, (str, int, float, bool)) else value


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (YAML's point at the offending line across several), capped."""
    return capped(printable(" ".join(str(err).split()) or type(err).__name__))
