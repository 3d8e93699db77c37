"""params.yaml is validated: unknown keys and wrong types are rejected with the valid keys listed."""

import dataclasses

import pytest
import yaml

from emo.core.params import PAPER, DataParams, Params, ParamsError, from_dict, load, valid_keys
from project import REPO


def test_repository_params_load_and_list_every_key():
    params = load(REPO / "params.yaml")
    assert isinstance(params, Params)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())

    def flatten(mapping, prefix=""):
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    flat = set(flatten(raw))
    assert flat == set(valid_keys()), "params.yaml should document every key with its default"
    # The deliberate differences: this repository's data.source is 'auto' (a local mirror where one is found, else
    # Zenodo: emo.fetch.source; emo defaults to Zenodo), it tests on EmoDB (emo: no other corpus) and its recipe
    # reads whole utterances (emo's AudioParams default to the paper's window).
    assert params.data.source == "auto" and Params().data.source == "zenodo"
    assert params.corpora.test == ("emodb",) and Params().corpora.test == ()
    assert params.audio.front_end == "utterance" and Params().audio.front_end == "window"
    assert dataclasses.replace(params, data=dataclasses.replace(params.data, source="zenodo"), audio=Params().audio,
                               corpora=Params().corpora) == Params(), "params.yaml and the dataclass defaults disagree"


def test_unknown_key_is_rejected_with_the_valid_keys():
    with pytest.raises(ParamsError, match=r"unknown parameter\(s\) data\.sourc .*Valid keys: data\.source"):
        from_dict(Params, {"data": {"sourc": "x"}})
    with pytest.raises(ParamsError, match=r"unknown parameter\(s\) trian"):
        from_dict(Params, {"trian": {}})


@pytest.mark.parametrize("section, problem", [
    ({"retries": "five"}, r"data\.retries: expected an integer in 0\.\.20, got 'five'"),
    ({"parts": ["audio_speech", "video"]}, r"data\.parts\[1\]: 'video' is not allowed; expected one of audio_speech"),
    ({"actors": "some"}, "data.actors"),
    ({"actors": [1, "x"]}, r"data\.actors: expected 'all' or a list, each item an integer in 1\.\.24"),
    ({"keep_archives": "yes"}, "expected true or false"),
])
def test_wrong_types_are_rejected(section, problem):
    with pytest.raises(ParamsError, match=problem):
        from_dict(Params, {"data": section})


def test_nested_sections_keep_their_own_defaults():
    params = from_dict(Params, {"train": {"paper": {"lr": 0.001}, "preset": "paper"}})
    assert params.train.settings == dataclasses.replace(PAPER, lr=0.001)  # not the `ours` defaults
    with pytest.raises(ParamsError, match=r"unknown parameter\(s\) train\.ours\.lrr"):
        from_dict(Params, {"train": {"ours": {"lrr": 1}}})
    with pytest.raises(ParamsError, match="train.preset"):
        from_dict(Params, {"train": {"preset": "best"}})


def test_values_convert_and_validate():
    data = from_dict(DataParams, {"actors": [24, 1, 1], "backoff_seconds": 1, "parts": ["video_song"]}, "data")
    assert data.actor_list == (1, 24) and data.backoff_seconds == 1.0 and data.parts == ("video_song",)
    with pytest.raises(ParamsError, match=r"data\.actors\[0\]: 0 is out of range; expected an integer in 1\.\.24"):
        dataclasses.replace(data, actors=(0, 3))
    with pytest.raises(ParamsError, match="split: .*both"):
        from_dict(Params, {"split": {"val": [1], "test": [1]}}).split.actor_split()


@pytest.mark.parametrize("section, problem", [
    ({"video": {"embedder": "resnet"}}, "video.embedder: 'resnet' is not allowed; expected one of fer-minixception"),
    ({"video": {"contrast_percentiles": [99, 1]}}, "video.contrast_percentiles"),
    ({"fusion": {"pairing": "random"}}, "fusion.pairing"),
    ({"fusion": {"audio_feature": "video"}}, "fusion.audio_feature"),
])
def test_video_and_fusion_values_are_checked(section, problem):
    with pytest.raises(ParamsError, match=problem):
        from_dict(Params, section)


@pytest.mark.parametrize("sections, problem", [
    ({"data": {"parts": ["audio_speech", "video_speech"]}},
     r"data\.parts: \['video_speech'\] is video, but video\.run is \[\]: .* set it, or leave the video parts out"),
    ({"video": {"run": ["video"]}}, r"video\.run: \['video'\] runs the video branch, but data\.parts has no video "
                                    r"part: add video_speech to data\.parts, or set video\.run: \[\]"),
    ({"video": {"run": ["fusion"]}}, r"video\.run\[0\]: 'fusion' is not allowed; expected one of video"),
])
def test_video_run_and_the_video_parts_go_together(sections, problem):
    """dvc.yaml's video stages exist when video.run is [video] (their matrix): without video data they would fail
    late, and video data without them would be downloaded for nothing."""
    with pytest.raises(ParamsError, match=problem):
        from_dict(Params, sections)
    video = from_dict(Params, {"data": {"parts": ["audio_speech", "video_speech"]}, "video": {"run": ["video"]}})
    assert video.video.run == ("video",) and load(REPO / "params.yaml").video.run == ()


@pytest.mark.parametrize("parts, run, targets", [(["audio_speech"], [], "report_audio release"),
                                                 (["audio_speech", "video_speech"], ["video"], "report@video release")])
def test_make_repro_runs_the_audio_models_alone_without_video(tmp_path, capsys, parts, run, targets):
    from emo.cli import main

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"parts": parts}, "video": {"run": run}}))
    assert main(["targets", "--params", str(tmp_path / "params.yaml")]) == 0
    assert capsys.readouterr().out.strip() == targets
