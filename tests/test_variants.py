"""Named variants: their parameter changes (params overlays in variants/), checked before any work, and the
scratch copy they and the nested candidates run in."""

import dataclasses
import json
import shutil

import pytest
import yaml

from emo.cli import main
from emo.core.errors import EmoError
from emo.core.params import EMOBOX_FOLDS, AudioParams, Params, from_dict
from emo.core.text import echo
from emo.experiments import scratch, variants
from project import REPO

# The variants and candidates as code held them before they became files in variants/ (commit 3657095).
OLD_VARIANTS = {
    "paper": {"train": {"preset": "paper"}, "audio": {"front_end": "window", "sample_rate": 44100, "offset": 1.0,
                                                      "duration": 2.5, "n_fft": 2048, "hop_length": 512,
                                                      "n_mels": 128, "n_mfcc": 30}},
    "emobox": {"split": {"protocol": "emobox"}, "augment": {"splits": ["train", "val", "test"]}},
}
OLD_CANDIDATES = [("default", {}, {}), ("utterance-4s", {"duration": 4.0}, {}),
                  ("paper-window", OLD_VARIANTS["paper"]["audio"], {}), ("mixup-0.4", {}, {"mixup": 0.4}),
                  ("no-spec-augment", {}, {"spec_augment": False}), ("epochs-30", {}, {"max_epochs": 30}),  # issue 23
                  ("label-smoothing-0.1", {}, {"label_smoothing": 0.1}),
                  ("attention-pooling", {}, {"model": "temporal-attention"}),
                  ("dropout-0.5", {}, {"dropout": 0.5}),
                  ("cnn-alone", {}, {"hybrid_svm_c": 0.0}),  # since the hybrid became the default
                  ("svm-weight-1", {}, {"hybrid_svm_weight": 1.0}),  # since 0.5 became the default
                  ("svm-weight-2", {}, {"hybrid_svm_weight": 2.0}), ("svm-weight-3", {}, {"hybrid_svm_weight": 3.0}),
                  ("svm-c-1", {}, {"hybrid_svm_c": 1.0}), ("svm-c-10", {}, {"hybrid_svm_c": 10.0})]


def test_the_overlay_files_give_the_same_changes_as_before():
    from emo.experiments import candidates

    assert sorted(p.stem for p in (REPO / variants.FOLDER).glob("*.yaml")) == sorted([*variants.VARIANTS, "nested"])
    for name, old in OLD_VARIANTS.items():
        changes = variants.overrides(name, root=REPO)
        assert changes == old and json.dumps(changes) == json.dumps(old)  # same values, types and key order
    listed = candidates.load_candidates(REPO)
    assert [(c.name, c.audio, c.train) for c in listed] == OLD_CANDIDATES
    assert [json.dumps(c.audio) for c in listed] == [json.dumps(a) for _, a, _ in OLD_CANDIDATES]


def test_a_candidate_changes_audio_and_train_ours_only(tmp_path):
    from emo.experiments import candidates

    shutil.copytree(REPO / variants.FOLDER, tmp_path / variants.FOLDER)
    nested_file = tmp_path / variants.FOLDER / "nested.yaml"
    nested_file.write_text("default: {}\nfaster: {train: {seeds: [0]}}\n")
    with pytest.raises(EmoError, match=r"candidate 'faster' changes \['train.seeds'\]"):
        candidates.load_candidates(tmp_path)
    nested_file.write_text("small: {audio: {n_mels: 24}}\n")
    with pytest.raises(EmoError, match="the first candidate must be `default: {}`"):
        candidates.load_candidates(tmp_path)
    shutil.rmtree(tmp_path / variants.FOLDER)
    with pytest.raises(EmoError, match="nested.yaml: missing"):
        candidates.load_candidates(tmp_path)


def test_each_variant_is_a_valid_change_of_the_default_params():
    paper = from_dict(Params, variants.overrides("paper", root=REPO))
    assert paper.train.preset == "paper" and paper.train.settings.model == "paper"
    # The reproduction keeps its exact features whatever the repository's recipe reads: the 2.5 s window from
    # 1.0 s at 44.1 kHz (AudioParams' defaults), applied over params.yaml's utterance front end.
    repository = yaml.safe_load((REPO / "params.yaml").read_text())
    scratch.merge(repository, variants.overrides("paper", root=REPO))
    audio = from_dict(Params, repository).audio
    assert audio.front_end == "window" and dataclasses.replace(audio, workers=2, skip_damaged=False) == \
        dataclasses.replace(AudioParams(), trim_db=audio.trim_db, fmin=audio.fmin, level_norm=audio.level_norm)
    emobox = from_dict(Params, variants.overrides("emobox", root=REPO))
    assert emobox.split.kfold == EMOBOX_FOLDS and set(emobox.augment.splits) == {"train", "val", "test"}
    assert variants.overrides("emobox", {"train": {"seeds": [0]}}, REPO)["train"] == {"seeds": [0]}
    assert "train" not in variants.overrides("emobox", root=REPO)  # extra changes never leak into the named ones


def test_unknown_variant_or_bad_override_stops_before_any_work(tmp_path, capsys):
    with pytest.raises(EmoError, match="unknown variant 'papr'"):
        variants.overrides("papr")
    (tmp_path / "params.yaml").write_text("data: {source: zenodo}\n")
    with pytest.raises(EmoError, match="variants/paper.yaml: missing"):  # the overlays ship with the project
        variants.overrides("paper", root=tmp_path)
    shutil.copytree(REPO / variants.FOLDER, tmp_path / variants.FOLDER)
    with pytest.raises(SystemExit) as stop:
        main(["variant", "paper", "--project", str(tmp_path), "--set", "train.seeds=[-1]"])
    assert stop.value.code == 1
    assert "train.seeds[0]: -1 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["variant", "paper", "--project", str(tmp_path), "--set", "train.seeds"])
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "metrics").exists()


def test_a_scratch_project_is_the_project_with_the_changes_and_an_absolute_source(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "clips"  # relative to the project
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copytree(REPO / variants.FOLDER, root / variants.FOLDER)
    (root / "data").mkdir()
    (root / "data/big.npy").write_text("not copied")
    for args in (["init", "-q"], ["add", "params.yaml", "variants"], ["commit", "-q", "-m", "root"]):
        scratch.git(root, *args)
    changes = variants.overrides("emobox", {"audio": {"n_mels": 40}, "data": {"actors": [1, 2]}}, root)
    project = scratch.scratch_project(root, tmp_path / "copy", changes)
    copied = yaml.safe_load((project / "params.yaml").read_text())
    assert copied["split"]["protocol"] == "emobox" and copied["audio"]["n_mels"] == 40
    assert copied["data"]["actors"] == [1, 2] and copied["data"]["source"] == str((root / "clips").resolve())
    assert list(copied) == list(params) and (project / "variants/nested.yaml").is_file()
    assert not (project / "data").exists() and (project / ".git").is_dir()
    (project / "kept.txt").write_text("a copy is made once, then reused")
    scratch.scratch_project(root, project, variants.overrides("emobox", {"audio": {"n_mels": 32}}, root))
    assert (project / "kept.txt").is_file() and yaml.safe_load((project / "params.yaml").read_text())["audio"][
        "n_mels"] == 32
    with pytest.raises(EmoError, match="train.seeds"):  # a bad change stops before any copy
        scratch.scratch_project(root, tmp_path / "bad", {"train": {"seeds": [-1]}})
    assert not (tmp_path / "bad").exists()


# Hostile --set values (issue 21, case 8): each was a YAML or JSON traceback; now one line naming the value, exit 1,
# and nothing runs. The escape sequence and the long value are echoed escaped and capped (emo.core.text.echo).
BAD_SETS = [
    ("train.seeds=[0,", "not a YAML value (expected the node content, but found '<stream end>')"),
    ("x=!!python/object/apply:os.system ['touch hacked']",
     "not a YAML value (could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:"),
    ("train.seeds=[&a 0, *a]", "not a YAML value (anchors and aliases (&name, *name) are not allowed here"),
    ("train.seeds=2024-01-01", "datetime.date(2024, 1, 1) is a date, which params.yaml cannot hold"),
    ("train.seeds=!!binary aGk=", "b'hi' is a bytes, which params.yaml cannot hold"),
    ("train..seeds=[0]", "expected KEY=VALUE with a dotted key"),
    ("data.source=[\x1b[2J" + "x" * 5000, "not a YAML value"),
]


@pytest.mark.parametrize(("pair", "problem"), BAD_SETS, ids=[p[:20] for p, _ in BAD_SETS])
def test_a_bad_set_value_is_one_line_naming_it(tmp_path, capsys, monkeypatch, pair, problem):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    shutil.copytree(REPO / variants.FOLDER, tmp_path / variants.FOLDER)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["variant", "paper", "--project", str(tmp_path), "--set", "train.seeds=[0]", "--set", pair])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --set '{echo(pair)}': ") and problem in err, err
    assert err.count("\n") == 1 and len(err) < 600 and "\x1b" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "variants"]  # nothing ran, nothing written


def test_a_set_key_under_a_value_is_one_line(capsys):
    with pytest.raises(EmoError, match=r"^--set 'train\.seeds=\[0\]': another --set gives train a value, not keys$"):
        scratch.sections(["train=1", "train.seeds=[0]"])
    assert scratch.sections(["train.seeds=[0, 1]", "train.ours.lr=1e-4", "data.source=x:y"]) == {
        "train": {"seeds": [0, 1], "ours": {"lr": 1e-4}}, "data": {"source": "x:y"}}  # 1e-4 a number, as DVC reads it


@pytest.mark.parametrize(("text", "problem"), [
    ("train: {preset: paper\n", r"variants/paper\.yaml: not valid YAML \(while parsing a flow mapping"),
    ("audio: &a {n_mels: 64}\nvideo: *a\n", r"variants/paper\.yaml: not valid YAML \(anchors and aliases"),
    ("train: !!python/object/apply:os.system ['touch hacked']\n", r"paper\.yaml: not valid YAML \(could not determine"),
])
def test_a_hostile_variant_overlay_is_one_line(tmp_path, text, problem):
    (tmp_path / variants.FOLDER).mkdir()
    (tmp_path / variants.FOLDER / "paper.yaml").write_text(text)
    with pytest.raises(EmoError, match=problem) as refused:
        variants.overrides("paper", root=tmp_path)
    assert "\n" not in str(refused.value) and not (tmp_path / "hacked").exists()
