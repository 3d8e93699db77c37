"""Training on several corpora (emo.studies.multicorpus, stage multicorpus): params, the pool of
standardised clips, the metrics, and the stage end to end on generated RAVDESS and EmoDB features."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from emo.core import metrics_detail
from emo.core.errors import EmoError
from emo.core.params import Params, ParamsError, TrainSettings, from_dict
from emo.core.ravdess import EMOTIONS
from emo.corpora import emodb
from emo.data import split
from emo.data.augment import PlannedClip
from emo.data.augment import write as write_plan
from emo.studies import corpus_design, multicorpus
from emo.studies.crossfeatures import save_features
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

def generated(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """RAVDESS-like and EmoDB-like clips whose class sets a bin's level; each speaker with its own offset."""
    rng = np.random.default_rng(seed)

    def clips(speakers: list[str], emotions: list[str], per: int) -> dict[str, np.ndarray]:
        names = [(s, e) for s in speakers for e in emotions for _ in range(per)]
        x = rng.normal(size=(len(names), BINS, FRAMES)).astype(np.float32)
        for i, (s, e) in enumerate(names):
            x[i, corpus_design.model_classes(["ravdess", "emodb"]).index(e) % BINS] += 2.5
            x[i] += 10 * speakers.index(s)  # a speaker's level: own-speaker standardisation removes it
        return {"logmel": x, "speaker": np.array([s for s, _ in names]), "emotion": np.array([e for _, e in names])}

    return {"ravdess": clips(list(corpus_design.ravdess_speakers(RAVDESS_ACTORS)), list(EMOTIONS), 2),
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
    assert np.allclose(pool.x[rows], split.standardise_speakers(clips["emodb"]["logmel"][-14:], np.zeros(14)))
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
    assert within["emodb"]["classes"] == corpus_design.model_classes(["emodb"]) and within["emodb"]["n"] == 140
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


def test_a_fold_below_the_minimums_stops_the_stage_before_any_training(monkeypatch):
    clips = generated()
    emodb_clips = clips["emodb"]
    keep = (emodb_clips["speaker"] != "emodb:16") | (np.cumsum(emodb_clips["speaker"] == "emodb:16") == 1)
    clips["emodb"] = {key: values[keep] for key, values in emodb_clips.items()}  # speaker 16 keeps one clip of 14

    def train_all(*args, **kwargs):
        raise AssertionError("trained on folds the check refuses")

    monkeypatch.setattr(multicorpus, "train_all", train_all)
    with pytest.raises(EmoError, match=r"^emodb fold 4 tests 15 clips \(speakers 15: 14 clips, 16: 1 clip\), fewer "
                                       r"than 20: .*; lower corpora\.folds \(now 5\) .* or leave emodb out of "
                                       r"corpora\.train$"):
        multicorpus.evaluate(small_params(), clips, progress=False)


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
    dvc(project, "repro", "params")  # every stage depends on its check of params.yaml
    out = dvc(project, "repro", "-s", "multicorpus").stdout
    assert "multicorpus within emodb: accuracy" in out and "emodb -> ravdess" in out
    written = metrics_detail.read(project / "metrics/multicorpus.json")
    assert list(written["within"]) == ["ravdess", "emodb"] and written["within"]["ravdess"]["n"] == 16
    assert written["leave_one_out"]["emodb"]["n"] == 120 and written["seeds"] == [0]
