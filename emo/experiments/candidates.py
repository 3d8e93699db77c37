"""The recipes `emo nested` chooses among (the project's variants/nested.yaml): a candidate changes params.yaml's
`audio` section and `train.ours` (the hybrid SVM beside the CNN included: `hybrid_svm_c`, emo.learn.hybrid)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emo.core.errors import EmoError
from emo.core.params import Params, TrainSettings, from_dict
from emo.experiments import variants


@dataclass(frozen=True)
class Candidate:
    """One recipe the inner cross-validation may choose: changes to params.yaml's `audio` and `train.ours`."""

    name: str
    audio: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


CANDIDATES_FILE = "nested"  # the project's variants/nested.yaml lists the candidates (name -> params overlay)


def load_candidates(root: Path) -> tuple[Candidate, ...]:
    """The candidates of the project's variants/nested.yaml, in its order: the front-end and training choices
    the default recipe was once made of, on actors that include EmoBox test folds (README "How the recipe was
    chosen"); here each fold makes them again on its own training actors."""
    where = root / variants.FOLDER / f"{CANDIDATES_FILE}.yaml"
    found = []
    for name, changes in variants.overlay(root, CANDIDATES_FILE).items():
        changes = dict(changes or {})
        audio = changes.pop("audio", {})
        if isinstance(audio, str):  # a variant's name: its audio section
            audio = variants.overrides(audio, root=root).get("audio", {})
        train = dict(changes.pop("train", None) or {})
        ours = train.pop("ours", {})
        if changes or train or not all(isinstance(part, dict) for part in (audio, ours)):
            raise EmoError(f"{where}: candidate {name!r} changes {sorted({*changes, *(f'train.{k}' for k in train)})}"
                           " or not a mapping: a candidate changes `audio` and `train.ours` only")
        found.append(Candidate(str(name), audio=audio, train=ours))
    if not found or found[0] != Candidate("default"):
        raise EmoError(f"{where}: the first candidate must be `default: {{}}` (params.yaml's recipe; ties go to it)")
    return tuple(found)


def candidates_named(names: list[str] | None, root: Path) -> tuple[Candidate, ...]:
    """The candidates of these names (None: all) in the project's variants/nested.yaml, in its order; the default
    is always among them (ties go to it)."""
    listed = load_candidates(root)
    unknown = set(names or ()) - {c.name for c in listed}
    if unknown:
        raise EmoError(f"unknown candidate(s) {sorted(unknown)}: expected some of {[c.name for c in listed]}")
    return tuple(c for c in listed if names is None or c.name in names or c.name == "default")


def settings_of(base: Params, candidate: Candidate) -> TrainSettings:
    """The candidate's training recipe: `train.ours` with its changes, checked like params.yaml."""
    settings = from_dict(TrainSettings, dict(candidate.train), "train.ours", base=base.train.ours)
    if settings.keep != "last":
        raise EmoError(f"candidate {candidate.name!r}: keep {settings.keep!r} would choose with the held-out "
                       "folds' clips; nested selection needs keep: last")
    return settings
