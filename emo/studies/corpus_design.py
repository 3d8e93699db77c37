"""Who trains, validates and tests each multi-corpus model (emo.studies.multicorpus): RAVDESS's hold-out split, every
other corpus cut into `corpora.folds` folds of its speakers, and the within / union / leave-one-corpus-out models."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.core.text import echo
from emo.corpora import corpus

RAVDESS = "ravdess"
KINDS = ("within", "union", "leave_one_out")


@dataclass(frozen=True)
class Experiment:
    """One model to train: which speakers of which corpus train, validate and test it."""

    kind: str  # within | union | leave_one_out
    name: str  # the corpus (within, leave_one_out) or "union"
    fold: int | None  # fold of the other corpora; None: RAVDESS's hold-out split or all speakers
    train: dict[str, tuple[str, ...]] = field(hash=False)
    val: dict[str, tuple[str, ...]] = field(hash=False)
    test: dict[str, tuple[str, ...]] = field(hash=False)


def labels_of(name: str) -> tuple[str, ...]:
    """The emotions corpus `name` can have."""
    return corpus(name).labels


def model_classes(names) -> list[str]:
    """The classes of a model trained on these corpora: RAVDESS's order first, then other labels as they come."""
    present = {label for name in names for label in labels_of(name)}
    extra = [label for name in names for label in labels_of(name) if label not in EMOTIONS]
    return [e for e in EMOTIONS if e in present] + list(dict.fromkeys(extra))


def ravdess_speakers(actors) -> tuple[str, ...]:
    """RAVDESS actor numbers as speaker ids, in their order."""
    return tuple(f"{RAVDESS}:{int(a):02d}" for a in actors)


def speaker_folds(speakers, folds: int, name: str) -> list[tuple[str, ...]]:
    """A corpus's speakers, sorted, in `folds` contiguous groups (sizes differ by one at most)."""
    ordered = sorted(set(speakers))
    if len(ordered) < folds:
        raise EmoError(f"{name} has {len(ordered)} speakers, fewer than corpora.folds ({folds}): lower corpora.folds"
                       f" or leave {name} out of corpora.train")
    return [tuple(group) for group in np.array_split(np.array(ordered, dtype=object), folds)]


def experiments(speakers: dict[str, list[str]], val: tuple[str, ...], test: tuple[str, ...], folds: int,
                keep_best: bool) -> list[Experiment]:
    """Every model of the stage: within each corpus, the union per fold, and leave-one-corpus-out."""
    present = set(speakers[RAVDESS])
    val, test = tuple(sorted(present & set(val))), tuple(sorted(present & set(test)))
    ravdess_train = tuple(s for s in sorted(present) if s not in set(val) | set(test))
    if not ravdess_train or not test:
        raise EmoError(f"RAVDESS needs training and test actors (split.test): the data holds {len(ravdess_train)} "
                       f"training and {len(test)} test actors (data.actors, split)")
    others = [name for name in speakers if name != RAVDESS]
    if keep_best and others and folds < 3:
        raise EmoError(f"corpora.folds: {folds}; keep: best needs at least 3 (one tests, the next validates)")
    cut = {name: speaker_folds(speakers[name], folds, name) for name in others}

    def fold_roles(name: str, k: int) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Training, validation and test speakers of fold k of corpus `name`."""
        held = cut[name][(k + 1) % folds] if keep_best else ()
        rest = tuple(s for g in cut[name] for s in g if s not in set(cut[name][k]) | set(held))
        return rest, held, cut[name][k]

    def everyone(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Training and validation speakers of a corpus a model trains on whole."""
        held = (val if name == RAVDESS else cut[name][0]) if keep_best else ()
        return tuple(s for s in sorted(set(speakers[name])) if s not in set(held)), held

    out = [Experiment("within", RAVDESS, None, {RAVDESS: ravdess_train}, {RAVDESS: val}, {RAVDESS: test})]
    for name in others:
        for k in range(folds):
            train, held, tested = fold_roles(name, k)
            out.append(Experiment("within", name, k, {name: train}, {name: held}, {name: tested}))
    for k in range(folds if others else 0):
        roles = {name: fold_roles(name, k) for name in others}
        out.append(Experiment("union", "union", k, {RAVDESS: ravdess_train, **{n: r[0] for n, r in roles.items()}},
                              {RAVDESS: val, **{n: r[1] for n, r in roles.items()}},
                              {RAVDESS: test, **{n: r[2] for n, r in roles.items()}}))
    for name in speakers if others else ():
        rest = {n: everyone(n) for n in speakers if n != name}
        out.append(Experiment("leave_one_out", name, None, {n: r[0] for n, r in rest.items()},
                              {n: r[1] for n, r in rest.items()}, {name: tuple(sorted(set(speakers[name])))}))
    return out


#: The least a fold of a corpus other than RAVDESS may hold (check_folds): its test speakers this many clips, so that
#: one clip moves its score by 5 points at most while the folds' scores are averaged with equal weight...
MIN_TEST_CLIPS = 20
#: ...and its training speakers this many clips of each class the corpus has, so that no fold learns a class from
#: a clip or two. EmoDB's 10 speakers in 5 folds: 81 test clips at least, 30 training clips of each class.
MIN_TRAIN_CLIPS = 5


def check_folds(planned: list[Experiment], speaker: np.ndarray, emotion: np.ndarray, folds: int) -> None:
    """Refuse the speaker folds of a corpus (the within models; the union's are the same) when a fold tests fewer
    than MIN_TEST_CLIPS clips or trains on fewer than MIN_TRAIN_CLIPS of a class: one line naming the corpus, the
    fold, its speakers and the fix. `speaker` and `emotion` are every clip's ("<corpus>:<id>", emotion name)."""
    count = Counter(zip(speaker.tolist(), emotion.tolist(), strict=True))
    per_speaker = Counter(speaker.tolist())
    cut = [e for e in planned if e.kind == "within" and e.fold is not None]

    def fix(name: str) -> str:
        fewer = f"lower corpora.folds (now {folds}) so that each fold holds more speakers, " if folds > 2 else ""
        return f"{fewer}bring the clips the corpus lacks, or leave {name} out of corpora.train"

    for e in cut:  # the test folds first: a speaker with too few clips is named where it is tested
        clips = {s: per_speaker[s] for s in e.test[e.name]}
        if sum(clips.values()) < MIN_TEST_CLIPS:
            raise EmoError(f"{e.name} fold {e.fold} tests {_clips(sum(clips.values()))} ({_speakers(clips)}), "
                           f"fewer than {MIN_TEST_CLIPS}: its score would weigh as much as any other fold's; "
                           f"{fix(e.name)}")
    for e in cut:
        present = {what for (who, what) in count if who.startswith(f"{e.name}:")}
        for label in [c for c in labels_of(e.name) if c in present]:
            held = {s: count[(s, label)] for s in e.train[e.name]}
            if sum(held.values()) < MIN_TRAIN_CLIPS:
                raise EmoError(f"{e.name} fold {e.fold} trains on {_clips(sum(held.values()))} of {label} "
                               f"({_speakers(held)}), fewer than {MIN_TRAIN_CLIPS}; {fix(e.name)}")


def _clips(n: int) -> str:
    return f"{n} clip{'' if n == 1 else 's'}"


def _speakers(clips: dict[str, int]) -> str:
    """'speaker YAF: 1 clip', 'speakers 03: 1 clip, 08: 0 clips': speaker ids come from file names, so capped."""
    listed = ", ".join(f"{s.split(':', 1)[1]}: {_clips(n)}" for s, n in clips.items())
    return f"speaker{'' if len(clips) == 1 else 's'} {echo(listed)}" if clips else "no speakers"


def encode(emotions: np.ndarray, classes: list[str]) -> np.ndarray:
    """Class indices of emotion names (-1: not a class of the model)."""
    where = {c: i for i, c in enumerate(classes)}
    return np.array([where.get(e, -1) for e in emotions], np.int64)


def scored_classes(classes: list[str], name: str) -> list[int]:
    """The model's class indices that corpus `name` has: what its argmax is restricted to."""
    return [i for i, c in enumerate(classes) if c in labels_of(name)]
