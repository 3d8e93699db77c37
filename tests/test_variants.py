"""Named variants: their parameter changes, checked before any work."""

import dataclasses

import pytest
import yaml

from emo.cli import main
from emo.core.errors import EmoError
from emo.core.params import EMOBOX_FOLDS, AudioParams, Params, from_dict
from emo.experiments import scratch, variants
from project import REPO


def test_each_variant_is_a_valid_change_of_the_default_params():
    paper = from_dict(Params, variants.overrides("paper"))
    assert paper.train.preset == "paper" and paper.train.settings.model == "paper"
    # The reproduction keeps its exact features whatever the repository's recipe reads: the 2.5 s window from
    # 1.0 s at 44.1 kHz (AudioParams' defaults), applied over params.yaml's utterance front end.
    repository = yaml.safe_load((REPO / "params.yaml").read_text())
    scratch.merge(repository, variants.overrides("paper"))
    audio = from_dict(Params, repository).audio
    assert audio.front_end == "window" and dataclasses.replace(audio, workers=2, skip_damaged=False) == \
        dataclasses.replace(AudioParams(), trim_db=audio.trim_db, fmin=audio.fmin, level_norm=audio.level_norm)
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
