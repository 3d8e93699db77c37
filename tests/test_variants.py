"""Named variants: their parameter changes, checked before any work."""

import pytest

from emo import variants
from emo.cli import main
from emo.errors import EmoError
from emo.params import EMOBOX_FOLDS, Params, from_dict


def test_each_variant_is_a_valid_change_of_the_default_params():
    paper = from_dict(Params, variants.overrides("paper"))
    assert paper.train.preset == "paper" and paper.train.settings.model == "paper"
    emobox = from_dict(Params, variants.overrides("emobox"))
    assert emobox.split.kfold == EMOBOX_FOLDS and set(emobox.augment.splits) == {"train", "val", "test"}
    assert variants.overrides("emobox", {"train": {"seeds": [0]}})["train"] == {"seeds": [0]}
    assert "train" not in variants.overrides("emobox")  # extra changes never leak into the named ones


def test_unknown_variant_or_bad_override_stops_before_any_work(tmp_path, capsys):
    with pytest.raises(EmoError, match="unknown variant 'papr'"):
        variants.overrides("papr")
    (tmp_path / "params.yaml").write_text("data: {source: zenodo}\n")
    with pytest.raises(SystemExit) as stop:
        main(["variant", "paper", "--project", str(tmp_path), "--set", "train.seeds=[-1]"])
    assert stop.value.code == 1
    assert "train.seeds[0]: -1 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["variant", "paper", "--project", str(tmp_path), "--set", "train.seeds"])
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "metrics").exists()
