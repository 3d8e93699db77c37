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
    assert by_name["hybrid-svm"].hybrid_settings.svm_c == 3.0 and by_name["default"].hybrid_settings is None
    with pytest.raises(EmoError, match="keep 'best' would choose with the held-out folds"):
        candidates.settings_of(params, candidates.Candidate("stop early", train={"keep": "best"}))
    with pytest.raises(EmoError, match="train.ours"):
        candidates.settings_of(params, candidates.Candidate("typo", train={"mixpu": 0.4}))


@pytest.mark.parametrize("hybrid, message", [({"svm_k": 3}, "unexpected keyword argument 'svm_k'"),
                                             ({"svm_c": -1}, "svm_c must be a number > 0"),
                                             ([3], "not a mapping")])
def test_a_hybrid_candidate_with_bad_settings_is_named(tmp_path, hybrid, message):
    (tmp_path / "variants").mkdir()
    (tmp_path / "variants/nested.yaml").write_text(yaml.safe_dump({"default": {}, "fused": {"hybrid": hybrid}}))
    with pytest.raises(EmoError, match=rf"nested.yaml: candidate 'fused' .*{message}"):
        candidates.load_candidates(tmp_path)
