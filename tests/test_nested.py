"""Nested cross-validation on the EmoBox folds (emo.experiments.nested): no fold's test actors ever train or choose its
recipe, the outer runs see exactly the pipeline's k-fold arrays, and the whole run on a small synthetic project."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml

from emo.core import layout
from emo.core.params import EMOBOX_FOLDS, load
from emo.data import arrays, augment, split
from emo.experiments import candidates, nested
from project import REPO, copy_project, git, set_params

CLIPS_PER_ACTOR = 16  # two of each emotion


def synthetic_project(folder: Path, seed: int = 0) -> Path:
    """A featurised project of 24 actors (plan, log-mel-shaped features with a class cue, all rows valid)."""
    rng = np.random.default_rng(seed)
    rows, features = [], []
    for actor in range(1, 25):
        for clip in range(CLIPS_PER_ACTOR):
            label = clip % 8
            for op in ("original", "noise"):
                rows.append(augment.PlannedClip(index=len(rows), path=f"a{actor}_{clip}.wav", video="", split="train",
                                                actor=actor, label=label, performance=f"{actor}-{clip}", op=op,
                                                balance=False, pitch=0.0, shift=0, noise_seed=len(rows)))
                x = rng.normal(size=(8, 12)).astype(np.float32)
                x[label] += 1.5
                features.append(x)
    (folder / "data/augment").mkdir(parents=True)
    (folder / "data/features").mkdir(parents=True)
    augment.write(rows, folder / layout.PLAN)
    np.save(folder / layout.feature_file("logmel"), np.stack(features))
    np.save(folder / layout.feature_file("mfcc"), np.stack(features))
    np.save(folder / layout.valid_file("logmel"), np.ones(len(rows), bool))
    return folder


def quick_root(folder: Path, seeds: list[int]) -> Path:
    """A project root (a git repo: the metrics name its revision) whose params train tiny models quickly."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["ours"].update(max_epochs=2, batch_size=16)
    params["train"].update(seeds=seeds, workers=2, threads=1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for args in (["init", "-q"], ["add", "params.yaml"], ["commit", "-q", "-m", "quick"]):
        git(folder, *args)
    return folder


def test_each_fold_is_scored_by_pair_models_that_never_saw_it():
    for count in (2, 4, 6):
        assert len(nested.pairs(count)) == count * (count - 1) // 2
        for fold in range(count):
            clips = nested.inner_clips(fold, count)
            assert sorted(other for _, other in clips) == [f for f in range(count) if f != fold]
            for pair, other in clips:
                assert pair in nested.pairs(count) and set(pair) == {fold, other}  # trained without both


def test_choice_takes_the_best_inner_accuracy_and_the_first_listed_on_a_tie():
    inner = {"default": [{"accuracy": 0.5}, {"accuracy": 0.6}, {"accuracy": 0.7}],
             "other": [{"accuracy": 0.6}, {"accuracy": 0.6}, {"accuracy": 0.65}]}
    assert nested.choose(inner) == ["other", "default", "default"]


def test_outer_inputs_are_the_pipelines_kfold_arrays_and_pair_inputs_leave_both_folds_out(tmp_path):
    project = synthetic_project(tmp_path / "p")
    plan = augment.read(project / layout.PLAN)
    features = np.load(project / layout.feature_file("logmel"))
    split.prepare(features, plan, np.ones(len(plan), bool), True, tmp_path / "emobox.npz", EMOBOX_FOLDS, "emobox")
    actors = nested.plan_actors(project)
    for fold in (0, 5):
        test = EMOBOX_FOLDS[fold]
        ours = nested.FoldInputs(str(project), "logmel", True, test, True,
                                 nested.split_path(project, "logmel", True, test))()
        pipeline = arrays.load_arrays(features, tmp_path / "emobox.npz", True, fold=fold)
        # EmoBox's protocol: the 20 actors outside the test fold train, none is held back to validate
        assert set(actors[ours["train"].index]) == set(range(1, 25)) - set(test) and not len(ours["val"].y)
        for name in ("train", "val", "test"):
            assert np.array_equal(ours[name].index, pipeline[name].index)
            assert np.array_equal(ours[name].x, pipeline[name].x) and np.array_equal(ours[name].y, pipeline[name].y)
    held_out = EMOBOX_FOLDS[1] + EMOBOX_FOLDS[4]
    pair = nested.FoldInputs(str(project), "logmel", False, held_out, True,
                             nested.split_path(project, "logmel", False, held_out))()
    assert not set(actors[pair["train"].index]) & set(held_out)
    assert set(actors[pair["train"].index]) == set(range(1, 25)) - set(held_out)
    assert set(actors[pair["test"].index]) == set(held_out)
    assert (np.array([plan[i].op for i in pair["test"].index]) == "original").all()


def test_a_whole_nested_run_chooses_per_fold_and_scores_every_clip_once_per_seed(tmp_path):
    root = quick_root(tmp_path / "root", seeds=[0, 1])
    work = tmp_path / "work"
    synthetic_project(work / "features" / "default")  # where nested.featurize keeps the default's features
    chosen = candidates.candidates_named(["mixup-0.4"], REPO)  # shares the default's features
    lines = []
    result = nested.run(root, work, ["audio_logmel_balanced"], chosen, log=lines.append)
    folds = result["selection"]["folds"]
    assert [f["test_actors"] for f in folds] == [list(f) for f in EMOBOX_FOLDS]
    for entry in folds:
        assert not set(entry["inner_actors"]) & set(entry["test_actors"]) and len(entry["inner_actors"]) == 20
        assert set(entry["scores"]) == {"default", "mixup-0.4"} and entry["chosen"] in entry["scores"]
        assert all(s["n"] == 5 * 4 * CLIPS_PER_ACTOR for s in entry["scores"].values())
        best = max(s["accuracy"] for s in entry["scores"].values())
        assert entry["scores"][entry["chosen"]]["accuracy"] == best
    metrics = result["models"]["audio_logmel_balanced"]
    assert metrics["n_test"] == 24 * CLIPS_PER_ACTOR and metrics["folds"] == 6 and metrics["seeds"] == [0, 1]
    assert len(metrics["per_seed"]) == 12 and metrics["accuracy"] > 0.3  # chance is 0.125
    assert [f["recipe"] for f in metrics["per_fold"]] == [f["chosen"] for f in folds]
    assert 0 <= metrics["ensemble"]["accuracy"] <= 1 and any("chosen per fold" in line for line in lines)
    # the inner scores are kept: a second run reuses them instead of training the pair models again
    assert sorted(p.name for p in (work / "inner").iterdir()) == ["default.json", "mixup-0.4.json"]
    again = nested.run(root, work, ["audio_logmel_balanced"], chosen, log=lines.append)
    assert again["selection"] == result["selection"]
    repeated = again["models"]["audio_logmel_balanced"]["per_seed"]
    assert [r["accuracy"] for r in repeated] == [r["accuracy"] for r in metrics["per_seed"]]  # same seeds, same models
    # kept scores of another recipe are not reused: a changed train.ours trains the pair models again
    kept = work / "inner" / "default.json"
    stale = json.loads(kept.read_text())
    stale["inputs"]["settings"]["lr"] = 0.5
    stale["scores"] = [dict(s, accuracy=1.0) for s in stale["scores"]]
    kept.write_text(json.dumps(stale))
    third = nested.run(root, work, ["audio_logmel_balanced"], chosen, log=lines.append)
    assert third["selection"] == result["selection"]
    assert json.loads(kept.read_text())["inputs"]["settings"]["lr"] == 0.002


def test_featurize_builds_a_candidates_emobox_features_in_a_scratch_copy(fixture_dataset, tmp_path):
    root = copy_project(tmp_path / "root")
    set_params(root, data={"source": str(fixture_dataset), "actors": [1, 2], "parts": ["audio_speech"]})
    candidate = candidates.Candidate("small", audio={"n_mels": 24, "n_mfcc": 12})
    project = nested.featurize(root, candidate, tmp_path / "work")
    assert np.load(project / layout.feature_file("logmel"), mmap_mode="r").shape[1] == 24
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["split"]["protocol"] == "emobox" and params["augment"]["splits"] == ["train", "val", "test"]
    plan = augment.read(project / layout.PLAN)
    assert {row.op for row in plan if row.actor == 2} >= {"original", "pitch_up", "shift", "noise"}
    assert nested.featurize(root, dataclasses.replace(candidate, name="same audio"), tmp_path / "work") == project


def test_a_hybrid_recipe_fuses_an_svm_trained_on_the_same_rows_into_every_run(tmp_path, monkeypatch):
    root = quick_root(tmp_path / "root", seeds=[0, 1])
    work = tmp_path / "work"
    project = synthetic_project(work / "features" / "default")
    fitted = []
    real_fit = nested.hybrid.fit

    def recording_fit(x, y, *, svm_c, fold):
        fitted.append(len(y))
        return real_fit(x, y, svm_c=svm_c, fold=fold)

    monkeypatch.setattr(nested.hybrid, "fit", recording_fit)
    test = EMOBOX_FOLDS[2]
    inputs = nested.FoldInputs(str(project), "logmel", True, test, True,
                               nested.split_path(project, "logmel", True, test))
    settings = candidates.settings_of(load(root / "params.yaml"), candidates.Candidate("default"))
    assert settings.hybrid_svm_c > 0  # the default recipe's
    alone = nested.train_and_predict([inputs], (0, 1), settings=dataclasses.replace(settings, hybrid_svm_c=0.0),
                                     workers=2, threads=1, desc="outer")[0]
    assert fitted == []
    fused = nested.train_and_predict([inputs], (0, 1), settings, 2, 1, "outer")[0]
    trained_on = inputs(0, ("train",))["train"]
    assert fitted == [len(trained_on.y)]  # one SVM per loader, on the CNN's training rows
    svm = real_fit(trained_on.x, trained_on.y, svm_c=settings.hybrid_svm_c, fold=0)
    second = nested.hybrid.probabilities(svm, alone[0]["test"].x, 8)
    for cnn, both in zip(alone, fused, strict=True):
        assert cnn["seed"] == both["seed"]
        np.testing.assert_allclose(both["proba"], nested.hybrid.fuse(cnn["proba"], second, settings.hybrid_svm_weight))
    chosen = candidates.candidates_named(["cnn-alone"], REPO)
    result = nested.run(root, work, ["audio_logmel_balanced"], chosen, log=lambda line: None)
    assert {c["name"]: c["train"] for c in result["selection"]["candidates"]} == \
        {"default": {}, "cnn-alone": {"hybrid_svm_c": 0.0}}
    assert json.loads((work / "inner" / "cnn-alone.json").read_text())["inputs"]["settings"]["hybrid_svm_c"] == 0.0
    assert json.loads((work / "inner" / "default.json").read_text())["inputs"]["settings"]["hybrid_svm_c"] == 3.0


def test_kept_predictions_give_the_same_result_and_a_fusion_only_change_trains_nothing(tmp_path, monkeypatch):
    root = quick_root(tmp_path / "root", seeds=[0, 1])
    project = synthetic_project(tmp_path / "work" / "features" / "default")
    test = EMOBOX_FOLDS[1]
    inputs = nested.FoldInputs(str(project), "logmel", True, test, True,
                               nested.split_path(project, "logmel", True, test))
    settings = candidates.settings_of(load(root / "params.yaml"), candidates.Candidate("default"))
    cache = tmp_path / "predictions"
    plain = nested.train_and_predict([inputs], (0, 1), settings, 2, 1, "outer")[0]
    first = nested.train_and_predict([inputs], (0, 1), settings, 2, 1, "outer", cache=cache)[0]
    assert len(list((cache / "cnn").iterdir())) == 1 and len(list((cache / "svm").iterdir())) == 1
    trained, fitted = [], []
    real_train, real_fit = nested.parallel.train_models, nested.hybrid.fit
    monkeypatch.setattr(nested.parallel, "train_models", lambda specs, *a, **k: trained.append(specs) or
                        real_train(specs, *a, **k))
    monkeypatch.setattr(nested.hybrid, "fit", lambda *a, **k: fitted.append(k) or real_fit(*a, **k))
    again = nested.train_and_predict([inputs], (0, 1), settings, 2, 1, "outer", cache=cache)[0]
    weighted = nested.train_and_predict([inputs], (0, 1), dataclasses.replace(settings, hybrid_svm_weight=2.0), 2, 1,
                                        "outer", cache=cache)[0]
    assert trained == [] and fitted == []  # both from what the first call kept
    for a, b, c, w in zip(plain, first, again, weighted, strict=True):
        assert a["seed"] == b["seed"] == c["seed"] and a["best_epoch"] == c["best_epoch"]
        np.testing.assert_array_equal(a["proba"], b["proba"])
        np.testing.assert_array_equal(a["proba"], c["proba"])
        np.testing.assert_array_equal(a["test"].y, c["test"].y)
        assert not np.array_equal(a["proba"], w["proba"])
    nested.train_and_predict([inputs], (0, 1), dataclasses.replace(settings, lr=0.01), 2, 1, "outer", cache=cache)
    nested.train_and_predict([inputs], (0, 1), dataclasses.replace(settings, hybrid_svm_c=1.0), 2, 1, "outer",
                             cache=cache)
    # a CNN key retrains the CNNs and keeps the SVM; a new C refits the SVM alone
    assert len(trained) == 1 and [k["svm_c"] for k in fitted] == [1.0]


def test_kept_inner_scores_hold_across_a_recipe_key_added_at_its_default_and_no_other_change():
    settings = candidates.settings_of(load(REPO / "params.yaml"),
                                      candidates.Candidate("svm-weight-1", train={"hybrid_svm_weight": 1.0}))
    now = json.loads(json.dumps({"audio": {}, "settings": vars(settings), "seed": 0, "model": nested.SELECTED_BY}))
    before = {**now, "settings": {k: v for k, v in now["settings"].items()
                                  if k not in ("hybrid_svm_weight", "label_smoothing")}}  # kept before those keys
    assert nested.same_inputs(now, now) and nested.same_inputs(before, now)
    for weight in (0.5, 2.0):  # a new key away from its default (0.5: the preset's) changes the models
        assert not nested.same_inputs(before, {**now, "settings": {**now["settings"], "hybrid_svm_weight": weight}})
    assert not nested.same_inputs({**before, "seed": 1}, now) and not nested.same_inputs(None, now)
    assert not nested.same_inputs({**now, "settings": {**now["settings"], "lr": 0.1}}, now)
    assert not nested.same_inputs(now, before)  # a key the code no longer has: not the same recipe
    assert not nested.same_inputs({k: v for k, v in now.items() if k != "audio"}, now)


def test_the_command_writes_where_out_says(tmp_path, monkeypatch, capsys):
    from emo.cli import main

    seen = {}
    monkeypatch.setattr(candidates, "candidates_named", lambda names, root: seen.setdefault("names", names) and ())
    monkeypatch.setattr(nested, "run", lambda root, work, models, chosen: {"models": models})
    main(["nested", "--project", str(tmp_path), "--models", "audio_mfcc_balanced", "--candidates", "cnn-alone",
          "--out", "metrics/emobox/nested_hybrid.json"])
    written = tmp_path / "metrics/emobox/nested_hybrid.json"
    assert json.loads(written.read_text()) == {"models": ["audio_mfcc_balanced"]} and seen["names"] == ["cnn-alone"]
    assert f"wrote {written}" in capsys.readouterr().out
    assert not (tmp_path / nested.METRICS).exists()
