"""emo.experiments.candidates: the recipes `emo nested` chooses among, read from variants/nested.yaml and checked
before any training."""

import pytest
import yaml

from emo.core.errors import EmoError
from emo.core.params import load
from emo.experiments import candidates
from project import REPO


def test_candidates_are_checked_and_early_stopping_is_refused():
    assert [c.name for c in candidates.candidates_named(["mixup-0.4"], REPO)] == ["default", "mixup-0.4"]
    assert candidates.candidates_named(None, REPO) == candidates.load_candidates(REPO)
    with pytest.raises(EmoError, match=r"unknown candidate\(s\) \['mixup'\]"):
        candidates.candidates_named(["mixup"], REPO)
    params = load(REPO / "params.yaml")
    by_name = {c.name: c for c in candidates.load_candidates(REPO)}
    assert candidates.settings_of(params, by_name["mixup-0.4"]).mixup == 0.4
    assert candidates.settings_of(params, by_name["cnn-alone"]).hybrid_svm_c == 0.0
    assert candidates.settings_of(params, by_name["default"]).hybrid_svm_c == params.train.ours.hybrid_svm_c > 0
    with pytest.raises(EmoError, match="keep 'best' would choose with the held-out folds"):
        candidates.settings_of(params, candidates.Candidate("stop early", train={"keep": "best"}))
    with pytest.raises(EmoError, match="train.ours"):
        candidates.settings_of(params, candidates.Candidate("typo", train={"mixpu": 0.4}))


@pytest.mark.parametrize("changes, message", [({"hybrid": {"svm_c": 3}}, r"changes \['hybrid'\]"),
                                              ({"train": {"ours": [3]}}, "not a mapping")])
def test_a_candidate_changing_more_than_audio_and_train_ours_is_named(tmp_path, changes, message):
    (tmp_path / "variants").mkdir()
    (tmp_path / "variants/nested.yaml").write_text(yaml.safe_dump({"default": {}, "fused": changes}))
    with pytest.raises(EmoError, match=rf"nested.yaml: candidate 'fused' .*{message}"):
        candidates.load_candidates(tmp_path)


def test_a_bad_hybrid_c_is_refused_like_params_yaml():
    with pytest.raises(EmoError, match="hybrid_svm_c"):
        candidates.settings_of(load(REPO / "params.yaml"), candidates.Candidate("bad", train={"hybrid_svm_c": -1}))
