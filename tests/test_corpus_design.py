"""Who trains and tests each multi-corpus model (emo.studies.corpus_design): the union label space, speaker folds,
and no model tested on a speaker it trained on."""

from __future__ import annotations

import numpy as np
import pytest

from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.corpora import emodb
from emo.studies import corpus_design

EMODB_SPEAKERS = [f"emodb:{s}" for s in sorted(emodb.GENDERS)]  # 03, 08, 09, ..., 16


def test_union_classes_are_ravdess_order_then_the_other_labels():
    assert corpus_design.model_classes(["ravdess"]) == list(EMOTIONS)
    assert corpus_design.model_classes(["ravdess", "emodb"]) == [*EMOTIONS, "boredom"]
    assert corpus_design.model_classes(["emodb", "ravdess"]) == [*EMOTIONS, "boredom"]
    assert corpus_design.model_classes(["emodb"]) == ["neutral", "happy", "sad", "angry", "fearful", "disgust",
                                                    "boredom"]
    classes = corpus_design.model_classes(["emodb"])
    assert corpus_design.scored_classes(classes, "ravdess") == [0, 1, 2, 3, 4, 5]  # boredom: not RAVDESS's
    assert corpus_design.encode(np.array(["calm", "boredom", "neutral"]), classes).tolist() == [-1, 6, 0]


def test_emodb_falls_into_five_folds_of_two_speakers_in_order():
    folds = corpus_design.speaker_folds(EMODB_SPEAKERS[::-1], 5, "emodb")
    assert folds == [tuple(EMODB_SPEAKERS[i:i + 2]) for i in range(0, 10, 2)]
    with pytest.raises(EmoError, match=r"tess has 2 speakers, fewer than corpora\.folds \(5\)"):
        corpus_design.speaker_folds(["tess:OAF", "tess:YAF"], 5, "tess")


def plan_speakers() -> dict[str, list[str]]:
    return {"ravdess": list(corpus_design.ravdess_speakers(range(1, 25))), "emodb": EMODB_SPEAKERS}


def test_each_model_trains_on_speakers_it_is_not_tested_on():
    val, test = corpus_design.ravdess_speakers([21, 22]), corpus_design.ravdess_speakers([23, 24])
    planned = corpus_design.experiments(plan_speakers(), val, test, 5, keep_best=False)
    kinds = [(e.kind, e.name, e.fold) for e in planned]
    assert kinds == ([("within", "ravdess", None)] + [("within", "emodb", k) for k in range(5)]
                     + [("union", "union", k) for k in range(5)]
                     + [("leave_one_out", "ravdess", None), ("leave_one_out", "emodb", None)])
    for e in planned:
        for name, speakers in e.test.items():
            assert not set(speakers) & set(e.train.get(name, ())), e
    ravdess_train = corpus_design.ravdess_speakers(range(1, 21))
    within, union = planned[3], planned[8]  # EmoDB fold 2 alone, and with RAVDESS
    assert within.train == {"emodb": tuple(s for s in EMODB_SPEAKERS if s not in ("emodb:11", "emodb:12"))}
    assert within.test == {"emodb": ("emodb:11", "emodb:12")} and within.val == {"emodb": ()}  # keep: last
    assert union.train == {"ravdess": ravdess_train, "emodb": within.train["emodb"]}
    assert union.test == {"ravdess": test, "emodb": within.test["emodb"]} and union.val["ravdess"] == val
    emodb_to_ravdess = planned[-2]
    assert emodb_to_ravdess.train == {"emodb": tuple(EMODB_SPEAKERS)} and len(emodb_to_ravdess.test["ravdess"]) == 24
    assert planned[-1].train == {"ravdess": corpus_design.ravdess_speakers(range(1, 25))}  # all 24 actors
    best = corpus_design.experiments(plan_speakers(), val, test, 5, keep_best=True)
    assert best[3].val == {"emodb": ("emodb:13", "emodb:14")} and len(best[3].train["emodb"]) == 6
    assert best[-1].train["ravdess"] == ravdess_train + corpus_design.ravdess_speakers([23, 24])
    with pytest.raises(EmoError, match="keep: best needs at least 3"):
        corpus_design.experiments(plan_speakers(), val, test, 2, keep_best=True)
    assert len(corpus_design.experiments({"ravdess": plan_speakers()["ravdess"]}, val, test, 5, False)) == 1
