"""Training on several corpora (emo.studies.multicorpus, stage multicorpus): params, speaker folds, which speakers
train and test each model, the union label space, and the stage end to end on generated RAVDESS and EmoDB features."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from emo.core.errors import EmoError
from emo.core.params import Params, ParamsError, TrainSettings, from_dict
from emo.core.ravdess import EMOTIONS
from emo.corpora import emodb
from emo.data import split
from emo.data.augment import PlannedClip
from emo.data.augment import write as write_plan
from emo.studies import multicorpus
from emo.studies.crosscorpus import save_features
from project import copy_project, dvc, set_params

EMODB_SPEAKERS = [f"emodb:{s}" for s in sorted(emodb.GENDERS)]  # 03, 08, 09, ..., 16
RAVDESS_ACTORS = (1, 2, 3, 4, 21, 23)
BINS, FRAMES = 6, 12


# Params.

@pytest.mark.parametrize("section, problem", [
    ({"train": ["emodb"], "test": ["emodb"], "emodb": "x"}, r"corpora\.train: \['emodb'\] lacks ravdess"),
    ({"train": ["ravdess", "tess"], "test": ["emodb"], "emodb": "x"}, r"corpora\.train: tess has no source"),
    ({"train": ["ravdess", "emodb"], "emodb": "x"}, r"emodb is not in corpora\.test.*corpora\.test: \['emodb'\]"),
    ({"train": ["ravdess", "x"]}, r"corpora\.train\[1\]: 'x' is not allowed; expected one of ravdess, emodb"),
    ({"folds": 1}, r"corpora\.folds: 1 is out of range"),
])
def test_corpora_train_lists_ravdess_and_corpora_whose_features_exist(section, problem):
    with pytest.raises(ParamsError, match=problem):
        from_dict(Params, {"corpora": section})
    ok = from_dict(Params, {"corpora": {"train": ["ravdess", "emodb"], "test": ["emodb"], "emodb": "x"}}).corpora
    assert ok.train == ("ravdess", "emodb") and ok.folds == 5 and Params().corpora.train == ("ravdess",)


# Units.

def test_union_classes_are_ravdess_order_then_the_other_labels():
    assert multicorpus.model_classes(["ravdess"]) == list(EMOTIONS)
    assert multicorpus.model_classes(["ravdess", "emodb"]) == [*EMOTIONS, "boredom"]
    assert multicorpus.model_classes(["emodb", "ravdess"]) == [*EMOTIONS, "boredom"]
    assert multicorpus.model_classes(["emodb"]) == ["neutral", "happy", "sad", "angry", "fearful", "disgust",
                                                    "boredom"]
    classes = multicorpus.model_classes(["emodb"])
    assert multicorpus.scored_classes(classes, "ravdess") == [0, 1, 2, 3, 4, 5]  # boredom: not RAVDESS's
    assert multicorpus.encode(np.array(["calm", "boredom", "neutral"]), classes).tolist() == [-1, 6, 0]


def test_emodb_falls_into_five_folds_of_two_speakers_in_order():
    folds = multicorpus.speaker_folds(EMODB_SPEAKERS[::-1], 5, "emodb")
    assert folds == [tuple(EMODB_SPEAKERS[i:i + 2]) for i in range(0, 10, 2)]
    with pytest.raises(EmoError, match=r"tess has 2 speakers, fewer than corpora\.folds \(5\)"):
        multicorpus.speaker_folds(["tess:OAF", "tess:YAF"], 5, "tess")


def plan_speakers() -> dict[str, list[str]]:
    return {"ravdess": list(multicorpus.ravdess_speakers(range(1, 25))), "emodb": EMODB_SPEAKERS}


def test_each_model_trains_on_speakers_it_is_not_tested_on():
    val, test = multicorpus.ravdess_speakers([21, 22]), multicorpus.ravdess_speakers([23, 24])
    planned = multicorpus.experiments(plan_speakers(), val, test, 5, keep_best=False)
    kinds = [(e.kind, e.name, e.fold) for e in planned]
    assert kinds == ([("within", "ravdess", None)] + [("within", "emodb", k) for k in range(5)]
                     + [("union", "union", k) for k in range(5)]
                     + [("leave_one_out", "ravdess", None), ("leave_one_out", "emodb", None)])
    for e in planned:
        for name, speakers in e.test.items():
            assert not set(speakers) & set(e.train.get(name, ())), e
    ravdess_train = multicorpus.ravdess_speakers(range(1, 21))
    within, union = planned[3], planned[8]  # EmoDB fold 2 alone, and with RAVDESS
    assert within.train == {"emodb": tuple(s for s in EMODB_SPEAKERS if s not in ("emodb:11", "emodb:12"))}
    assert within.test == {"emodb": ("emodb:11", "emodb:12")} and within.val == {"emodb": ()}  # keep: last
    assert union.train == {"ravdess": ravdess_train, "emodb": within.train["emodb"]}
    assert union.test == {"ravdess": test, "emodb": within.test["emodb"]} and union.val["ravdess"] == val
    emodb_to_ravdess = planned[-2]
    assert emodb_to_ravdess.train == {"emodb": tuple(EMODB_SPEAKERS)} and len(emodb_to_ravdess.test["ravdess"]) == 24
    assert planned[-1].train == {"ravdess": multicorpus.ravdess_speakers(range(1, 25))}  # all 24 actors
    best = multicorpus.experiments(plan_speakers(), val, test, 5, keep_best=True)
    assert best[3].val == {"emodb": ("emodb:13", "emodb:14")} and len(best[3].train["emodb"]) == 6
    assert best[-1].train["ravdess"] == ravdess_train + multicorpus.ravdess_speakers([23, 24])
    with pytest.raises(EmoError, match="keep: best needs at least 3"):
        multicorpus.experiments(plan_speakers(), val, test, 2, keep_best=True)
    assert len(multicorpus.experiments({"ravdess": plan_speakers()["ravdess"]}, val, test, 5, False)) == 1


def generated(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """RAVDESS-like and EmoDB-like clips whose class sets a bin's level; each speaker with its own offset."""
    rng = np.random.default_rng(seed)

    def clips(speakers: list[str], emotions: list[str], per: int) -> dict[str, np.ndarray]:
        names = [(s, e) for s in speakers for e in emotions for _ in range(per)]
        x = rng.normal(size=(len(names), BINS, FRAMES)).astype(np.float32)
        for i, (s, e) in enumerate(names):
            x[i, multicorpus.model_classes(["ravdess", "emodb"]).index(e) % BINS] += 2.5
            x[i] += 10 * speakers.index(s)  # a speaker's level: own-speaker standardisation removes it
        return {"logmel": x, "speaker": np.array([s for s, _ in names]), "emotion": np.array([e for _, e in names])}

    return {"ravdess": clips(list(multicorpus.ravdess_speakers(RAVDESS_ACTORS)), list(EMOTIONS), 2),
            "emodb": clips(EMODB_SPEAKERS, list(emodb.EMOTIONS.values()), 2)}


def small_params(**train) -> Params:
    settings = TrainSettings(model="temporal", lr=0.01, max_epochs=4, batch_size=16, schedule="onecycle", keep="last")
    return from_dict(Params, {"split": {"val": [21], "test": [23]},
                              "corpora": {"train": ["ravdess", "emodb"], "test": ["emodb"], "emodb": "x"},
                              "train": {"ours": dataclasses.asdict(settings), "seeds": [3, 4], **train}})


def test_pool_standardises_each_speaker_by_its_own_clips():
    clips = generated()
    pool = multicorpus.make_pool(clips, speaker_norm=True)
    assert pool.x.shape == (6 * 16 + 10 * 14, BINS, FRAMES) and set(pool.corpus) == {"ravdess", "emodb"}
    rows = pool.speaker == "emodb:16"
    assert np.allclose(pool.x[rows], split.own_speaker_normalize(clips["emodb"]["logmel"][-14:], np.zeros(14)))
    with pytest.raises(EmoError, match="differ in shape"):
        multicorpus.make_pool({**clips, "emodb": {**clips["emodb"], "logmel": clips["emodb"]["logmel"][:, :3]}}, True)


def test_metrics_nest_within_union_and_leave_one_out_and_do_not_depend_on_workers():
    clips = generated()
    one = multicorpus.evaluate(small_params(workers=1), clips, progress=False)
    two = multicorpus.evaluate(small_params(workers=2), clips, progress=False)
    strip = lambda m: {k: v for k, v in m.items() if "seconds" not in k}  # noqa: E731
    assert strip(one) == strip(two)
    assert one["seeds"] == [3] and one["corpora"] == ["ravdess", "emodb"] and one["feature"] == "logmel"
    within = one["within"]
    assert within["emodb"]["classes"] == multicorpus.model_classes(["emodb"]) and within["emodb"]["n"] == 140
    assert [f["test_speakers"] for f in within["emodb"]["folds"]] == [["03", "08"], ["09", "10"], ["11", "12"],
                                                                      ["13", "14"], ["15", "16"]]
    assert within["ravdess"]["n"] == 16 and within["ravdess"]["folds"][0]["test_speakers"] == ["23"]
    assert one["union"]["classes"] == [*EMOTIONS, "boredom"]
    assert one["union"]["ravdess"]["n"] == 16 and len(one["union"]["ravdess"]["folds"]) == 5  # the same clips, 5x
    assert one["union"]["emodb"]["n"] == 140 and one["union"]["emodb"]["classes"] == within["emodb"]["classes"]
    to_ravdess, to_emodb = one["leave_one_out"]["ravdess"], one["leave_one_out"]["emodb"]
    assert to_ravdess["trained_on"] == ["emodb"] and to_ravdess["n"] == 6 * 6 * 2  # calm and surprised left out
    assert to_ravdess["classes"] == ["neutral", "happy", "sad", "angry", "fearful", "disgust"]
    assert to_emodb["trained_on"] == ["ravdess"] and to_emodb["n"] == 10 * 6 * 2 and "folds" not in to_emodb
    for entry in (within["emodb"], within["ravdess"], one["union"]["emodb"], to_ravdess):
        assert set(entry) >= {"n", "classes", "accuracy", "uar", "accuracy_std", "uar_std"}
        assert 0 <= entry["accuracy"] <= 1 and 0 <= entry["uar"] <= 1
    # The class is written into the clips, so even four epochs learn it: chance is 1/7.
    assert within["emodb"]["accuracy"] > 0.5 and one["union"]["emodb"]["uar"] > 0.5


# The stage end to end: `dvc repro -s multicorpus` in a scratch project on generated feature files.

def write_inputs(root: Path, clips: dict[str, dict[str, np.ndarray]]) -> None:
    """The pipeline's RAVDESS features with one augmented copy of each clip after the originals, and EmoDB's."""
    ravdess = clips["ravdess"]
    n = len(ravdess["speaker"])
    plan = [PlannedClip(index=i + n * copy, path=f"clip{i}.wav", video="", split="train",
                        actor=int(ravdess["speaker"][i].split(":")[1]), label=EMOTIONS.index(ravdess["emotion"][i]),
                        performance=str(i), op="noise" if copy else "original", balance=False, pitch=0.0, shift=0,
                        noise_seed=0) for copy in (0, 1) for i in range(n)]
    write_plan(plan, root / "data/augment/plan.csv")
    (root / "data/features").mkdir(parents=True)
    features = np.concatenate([ravdess["logmel"], ravdess["logmel"] + 100])  # copies: far off, never used
    np.save(root / "data/features/logmel.npy", features)
    np.save(root / "data/features/mfcc.npy", features[:, :2])
    np.save(root / "data/features/valid.npy", np.ones(2 * n, bool))
    save_features({**clips["emodb"], "mfcc": clips["emodb"]["logmel"][:, :2]}, root / "data/crossfeatures/emodb.npz")


@pytest.mark.slow
def test_stage_writes_the_metrics(tmp_path):
    project = copy_project(tmp_path / "project")
    set_params(project, split={"val": [21], "test": [23]},
               train={"ours": {"max_epochs": 2}, "seeds": [0], "workers": 1},
               corpora={"train": ["ravdess", "emodb"], "test": ["emodb"], "emodb": str(tmp_path)})
    clips = generated()
    write_inputs(project, clips)
    out = dvc(project, "repro", "-s", "multicorpus").stdout
    assert "multicorpus within emodb: accuracy" in out and "emodb -> ravdess" in out
    written = json.loads((project / "metrics/multicorpus.json").read_text())
    assert list(written["within"]) == ["ravdess", "emodb"] and written["within"]["ravdess"]["n"] == 16
    assert written["leave_one_out"]["emodb"]["n"] == 120 and written["seeds"] == [0]
