"""Hostile params.yaml: every bad value is one line naming the key, the value and the allowed values, and every
stage stops on it at its start, before reading or writing anything."""

import copy
import dataclasses
import re
import subprocess
import sys
import tracemalloc
import types
import typing

import pytest
import yaml

from emo.core.params import Params, ParamsError, load, valid_keys
from project import REPO

RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def with_value(key: str, value) -> dict:
    """The repository's params with one dotted key set."""
    raw = copy.deepcopy(RAW)
    *sections, last = key.split(".")
    node = raw
    for section in sections:
        node = node[section]
    node[last] = value
    return raw


def write(tmp_path, raw) -> object:
    path = tmp_path / "params.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return path


def refused(path) -> str:
    """The one-line message load() refuses a params file with."""
    with pytest.raises(ParamsError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


# The cases of issue 12: a traceback each before (some after earlier stages ran), now one line at read time.
ISSUE = [
    ("train.ours.lr", 0.0, r"train\.ours\.lr: 0\.0 is out of range; expected a number > 0$"),
    ("train.paper.lr", -1e-5, r"train\.paper\.lr: -1e-05 is out of range; expected a number > 0$"),
    ("train.ours.batch_size", 0, r"train\.ours\.batch_size: 0 is out of range; expected an integer in 1\.\.1000000"),
    ("train.paper.max_epochs", 0, r"train\.paper\.max_epochs: 0 is out of range; expected an integer in 1\.\."),
    ("train.seeds", [-1], r"train\.seeds\[0\]: -1 is out of range; expected an integer in 0\.\.4294967295$"),
    ("train.seeds", [2**32], r"train\.seeds\[0\]: 4294967296 is out of range"),
    ("train.seeds", [0, 1, 0], r"train\.seeds: \[0, 1, 0\] repeats \[0\]; expected each value once"),
    ("train.seeds", [], r"train\.seeds: \[\] is empty; expected at least one value, each an integer in 0\.\."),
    ("train.ours.dropout", 1.0, r"train\.ours\.dropout: 1\.0 is out of range; expected a number in \[0, 1\)$"),
    ("audio.duration", 0.0, r"audio\.duration: 0\.0 is out of range; expected a number in \(0, 60\]$"),
    ("data.timeout_seconds", 0, r"data\.timeout_seconds: 0\.0 is out of range; expected a number in \(0, 3600\]"),
    ("data.retries", -1, r"data\.retries: -1 is out of range; expected an integer in 0\.\.20$"),
    ("data.parts", [], r"data\.parts: \[\] is empty; expected at least one value, each one of audio_speech, "),
    ("data.actors", [0, 3], r"data\.actors\[0\]: 0 is out of range; expected an integer in 1\.\.24$"),
    ("data.actors", [], r"data\.actors: \[\] is empty"),
    ("split.test", [25], r"split\.test\[0\]: 25 is out of range; expected an integer in 1\.\.24$"),
    ("split.val", [23], r"split: actors \[23\] are in both the val and the test split"),
    ("split.folds", [[1], [2], [99]], r"split\.folds\[2\]\[0\]: 99 is out of range"),
    ("audio.n_mfcc", 200, r"audio\.n_mfcc: 200 is out of range; expected at most audio\.n_mels \(64\)"),
    ("audio.workers", 0, r"audio\.workers: 0 is out of range; expected an integer >= 1$"),
    ("video.scale_factor", 1.0, r"video\.scale_factor: 1\.0 is out of range; expected a number in \(1, 10\]"),
    ("video.gamma", 0, r"video\.gamma: 0\.0 is out of range; expected a number in \(0, 10\]"),
    ("video.contrast_percentiles", [60, 40], r"video\.contrast_percentiles: \[60\.0, 40\.0\] is not allowed"),
    ("data.video_modalities", [3], r"data\.video_modalities\[0\]: 3 is out of range; expected an integer in 1\.\.2 "
                                   r"\(1 = audio-video mp4, 2 = video-only mp4\)"),
    ("train.device", "gpu", r"train\.device: 'gpu' is not allowed; expected auto, cpu, cuda or cuda:N$"),
    ("train.device", "cuda:x", r"train\.device: 'cuda:x' is not allowed"),
    ("train.threads", 10**6, r"train\.threads: 1000000 is out of range; expected an integer in 0\.\.1024$"),
    ("train.ours.batch_size", 10**30, r"train\.ours\.batch_size: 1000000000000000000000000000000 is out of range"),
    ("train.ours.lr", 10**400, r"train\.ours\.lr: \d+\.\.\.\d+ is out of range; expected a number > 0$"),
    ("train.ours.lr", float("nan"), r"train\.ours\.lr: nan is not a finite number; expected a number > 0$"),
    ("train.paper.weight_decay", float("inf"), r"train\.paper\.weight_decay: inf is not a finite number"),
    ("train.ours.lr", "0.001", r"train\.ours\.lr: expected a number > 0, got '0\.001'$"),
    ("train.ours.batch_size", True, r"train\.ours\.batch_size: expected an integer in 1\.\.1000000, got True$"),
    ("train.ours.batch_size", 32.0, r"train\.ours\.batch_size: expected an integer in 1\.\.1000000, got 32\.0$"),
    ("data.keep_archives", 1, r"data\.keep_archives: expected true or false, got 1$"),
    ("train.ours.model", "resnet", r"train\.ours\.model: 'resnet' is not allowed; expected one of paper, emocnn, "),
    ("train.paper", [1], r"train\.paper: expected a mapping of keys to values, got \[1\]$"),
    ("data.source", " ", r"data\.source: ' ' is not allowed; expected a non-empty string$"),
    ("data.parts", ["audio_speech"] * 2, r"data\.parts: \['audio_speech', 'audio_speech'\] repeats"),
]


@pytest.mark.parametrize(("key", "value", "message"), ISSUE, ids=[f"{k}={str(v)[:12]}" for k, v, _ in ISSUE])
def test_a_bad_value_is_one_line_naming_key_value_and_allowed_values(tmp_path, key, value, message):
    assert re.search(message, refused(write(tmp_path, with_value(key, value))))


def _numeric_fields(cls=Params, prefix=""):
    """(dotted key, scalar type, list depth, field) of every numeric key, list items included."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint, depth = hints[field.name], 0
        if dataclasses.is_dataclass(hint):
            yield from _numeric_fields(hint, f"{prefix}{field.name}.")
            continue
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        for option in options:
            while typing.get_origin(option) is tuple:
                option, depth = typing.get_args(option)[0], depth + 1
            if option in (int, float):
                yield f"{prefix}{field.name}", option, depth, field


NUMERIC = list(_numeric_fields())


def test_every_numeric_key_declares_its_range():
    assert len(NUMERIC) >= 40 and {key for key, *_ in NUMERIC} <= set(valid_keys())
    unbounded = [key for key, _, _, field in NUMERIC
                 if "rule" not in field.metadata or field.metadata["rule"].low is None]
    assert unbounded == []


def _nest(value, depth):
    return value if depth == 0 else _nest([value], depth - 1)


def _outside(rule, kind):
    """Values just outside a field's range, at each end it has."""
    step = 1 if kind is int else 1e-9 * max(1.0, abs(rule.low or 0), abs(rule.high or 0))
    values = [rule.low if rule.above else rule.low - step]
    if rule.high is not None:
        values.append(rule.high if rule.below else rule.high + step)
    return [kind(v) if kind is int else float(v) for v in values]


@pytest.mark.parametrize(("key", "kind", "depth", "field"), NUMERIC, ids=[key for key, *_ in NUMERIC])
def test_every_numeric_key_refuses_out_of_range_nan_inf_booleans_and_strings(tmp_path, key, kind, depth, field):
    bad = _outside(field.metadata["rule"], kind) + [float("nan"), float("inf"), -float("inf"), True, "1", None]
    for value in bad:
        message = refused(write(tmp_path, with_value(key, _nest(value, depth))))
        assert message.startswith(key), (value, message)


HOSTILE_FILES = {
    "a list": "- data\n- train\n",
    "empty": "",
    "only a comment": "# nothing\n",
    "a string": "hello\n",
    "not YAML": "data: [\n",
    "a tab": "data:\n\tsource: x\n",
    "deeply nested": "data: " + "[" * 1000 + "]" * 1000 + "\n",
    "an int of 5000 digits": "data: {retries: " + "9" * 5000 + "}\n",
    "a recursive alias": "data: {parts: &p [*p]}\n",
    "an alias of the wrong section": "data: &d {retries: 1}\ntrain: *d\n",
    "keys that are not strings": "1: x\nnull: y\ntrue: z\n",
    "a misspelt section": "trian: {}\n",
    "a key given twice": "train:\n  ours:\n    lr: 0.1\n    lr: 0.2\n",  # DVC refuses it too; PyYAML kept the last
}


@pytest.mark.parametrize("text", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_a_hostile_params_file_is_one_line(tmp_path, text):
    assert refused(write(tmp_path, text))


def anchor_bomb(levels: int) -> str:
    """params.yaml with data.actors a list of aliases of lists of aliases, `levels` deep: 9**levels items written
    out, a few hundred bytes as YAML (PyYAML builds each list once and refers to it)."""
    items = ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    text = (REPO / "params.yaml").read_text()
    assert text.count("\n  actors: all ") == 1
    return text.replace("\n  actors: all ", f"\n  actors: [{', '.join(items)}] ")


def test_an_anchor_bomb_is_one_short_line_and_costs_little(tmp_path):
    """Issue 21, case 10: the message echoed the value down 6 levels, one line of a megabyte. Now at most 200
    characters of it ("…" says the rest), read and refused in a few MB whatever the depth."""
    path = write(tmp_path, anchor_bomb(12))  # 9**12: 282 billion items if anything wrote them out
    tracemalloc.start()
    try:
        message = refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert re.fullmatch(r"data\.actors: expected 'all' or a list, each item an integer in 1\.\.24, got "
                        r"\[\[1, 1, .{192}…", message), message
    assert len(message) < 400 and peak < 50 * 2**20


@pytest.mark.parametrize(("key", "value"), [
    ("augment.copies", ["x" * 100_000]),  # printed whole
    ("split.folds", [[1, 1] * 50_000]),  # printed whole
    ("train.device", "\x1b[2J" + "x" * 10),  # a terminal escape
])
def test_an_echoed_value_is_escaped_and_capped(tmp_path, key, value):
    raw = with_value(key, value)
    if key == "split.folds":
        raw["split"]["protocol"] = "folds"
        raw["split"]["folds"] += [[2], [3]]
    message = refused(write(tmp_path, raw))
    assert message.startswith(key) and len(message) < 400 and "\x1b" not in message, message


def test_a_long_unknown_key_is_capped(tmp_path):
    message = refused(write(tmp_path, {**RAW, "k" * 100_000: 1}))
    assert message.startswith("unknown parameter(s) kkk") and "k" * 201 not in message and "… (100,000 characters)" \
        in message


def test_unreadable_params_files_are_one_line(tmp_path):
    (tmp_path / "params.yaml").write_bytes(b"\xff\xfe garbage \x00")
    assert "cannot read it" in refused(tmp_path / "params.yaml")
    assert "cannot read it" in refused(tmp_path)  # a folder
    assert "not found" in refused(tmp_path / "missing.yaml")


def test_yaml_1_2_numbers_and_anchors_are_read_as_dvc_reads_them(tmp_path):
    text = "train:\n  ours: &recipe {lr: 1e-4, weight_decay: 2E-2}\n  paper:\n    <<: *recipe\n    model: paper\n"
    params = load(write(tmp_path, text))
    assert params.train.ours.lr == 1e-4 and params.train.ours.weight_decay == 0.02
    assert params.train.paper.lr == 1e-4 and params.train.paper.model == "paper"


def test_ranges_hold_when_a_section_is_built_in_code_too():
    from emo.core.params import AudioParams, TrainSettings

    with pytest.raises(ParamsError, match=r"audio\.duration: -1\.0 is out of range"):
        AudioParams(duration=-1.0)
    with pytest.raises(ParamsError, match=r"train\.<preset>\.lr: 0 is out of range; expected a number > 0"):
        TrainSettings(lr=0)


# Every stage but download (another helper's): (script, arguments).
STAGES = [("params", []), ("inventory", []), ("augment", []), ("featurize", []), ("faces", []), ("embed", []),
          ("split", ["mfcc", "balanced"]), ("train", ["mfcc"]), ("evaluate", ["mfcc", "balanced"]),
          ("train", ["fusion"]), ("evaluate", ["fusion"]), ("report", ["all"])]


def _run_stages(cwd, stages=STAGES) -> list[tuple[str, subprocess.CompletedProcess]]:
    """Stage scripts in `cwd`, side by side (each imports numpy or torch: seconds)."""
    running = [(name, subprocess.Popen([sys.executable, str(REPO / "stages" / f"{name}.py"), *args], cwd=cwd,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
               for name, args in stages]
    return [(name, subprocess.CompletedProcess(p.args, p.wait(), *p.communicate())) for name, p in running]


def test_every_stage_stops_on_a_bad_param_before_reading_or_writing_anything(tmp_path):
    write(tmp_path, with_value("train.seeds", []))  # a key only the train stages use: every stage checks all
    for name, result in _run_stages(tmp_path):
        assert result.returncode == 1, (name, result.stderr)
        assert result.stderr.splitlines() == ["error: train.seeds: [] is empty; expected at least one value, each an "
                                              "integer in 0..4294967295"], name
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]


def test_every_stage_names_its_missing_input_and_the_stage_that_makes_it(tmp_path):
    write(tmp_path, RAW)
    expected = {"inventory": "data/raw holds no clips: .* run `dvc repro -f download`",
                "augment": "data/inventory.csv is missing: run `dvc repro inventory`",
                "featurize": "data/augment/plan.csv is missing: run `dvc repro augment`",
                "faces": "data/inventory.csv is missing: run `dvc repro inventory`",
                "embed": "data/augment/plan.csv is missing: run `dvc repro augment`",
                "split": "data/augment/plan.csv is missing: run `dvc repro augment`",
                "train": r"data/split/mfcc_unbalanced\.npz is missing: run `dvc repro split@mfcc-unbalanced`",
                "evaluate": r"models/audio_mfcc_balanced\.pt: missing; re-train it with "
                            r"`dvc repro -f train@mfcc`"}
    # each script once; report is left out: it reports whatever models are there
    once = [(name, args) for name, args in STAGES if name in expected and "fusion" not in args]
    for name, result in _run_stages(tmp_path, once):
        assert result.returncode == 1 and "Traceback" not in result.stderr, (name, result.stderr)
        last = result.stderr.splitlines()[-1]
        assert re.fullmatch(f"error: {expected[name]}.*", last), (name, last)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]

