"""`emo predict` against hostile input, without a trained project: control characters in names (they must not
forge output lines), special files (never opened), recordings cut or band-limited without a word, and a batch
whose memory must not grow with its size (a speaker group's features held or spilled, its statistics and the
models' batches the same to the bit). tests/test_predict.py runs the same cases end to end."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from emo.audio import frontend
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS
from emo.data import split
from emo.learn.models import build
from emo.learn.train import predict_proba
from emo.predict import media, output
from emo.predict.jobs import Job, collect
from emo.predict.model import Model

REPO = Path(__file__).resolve().parents[1]
AUDIO = load_params(REPO / "params.yaml").audio  # the repository's recipe: front_end utterance at 16 kHz
CONTROL = ("\r", "\n", "\x1b", "\x07", "\u202e")


def _speech(seconds: float, rate: int) -> np.ndarray:
    """A voiced-sounding tone with a syllable-rate wobble."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def _sound_mp4(path: Path, wave: np.ndarray, rate: int) -> None:
    """An mp4 holding one AAC sound track."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(wave), rate):
            frame = av.AudioFrame.from_ndarray(wave[None, start:start + rate], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _result(file: str, speaker: str, warnings: list[str]) -> dict:
    """A result as `emo predict` makes one."""
    p = np.full(len(EMOTIONS), 0.05)
    p[2] = 1 - p[1:].sum()
    return {"file": file, "audio": file, "video": None, "model": "audio_logmel_balanced", "seeds": [0],
            "speaker": speaker, "speaker_stats": {"logmel": {"source": "training", "clips": 1}}, "faces": None,
            "warnings": [{"file": file, "warning": w} for w in warnings], "calibration": None, "prediction": "happy",
            "probabilities": dict(zip(EMOTIONS, map(float, p), strict=True))}


# --- 6: control characters in names are escaped in everything meant for a person ---

def test_a_carriage_return_in_a_file_name_cannot_forge_a_table_row():
    forged = "/clips/\rfake.wav      audio_logmel_balanced  happy  1.000"
    jobs = [Job(label=name, result=_result(name, f"folder {Path(name).parent}", warn))
            for name, warn in ((forged, []), ("/clips/\x1b[2Jreal\n.wav", ["odd\rwarning"]), ("/a\u202eb.wav", []))]
    text = output.table(jobs)
    lines = text.split("\n")[:-1]
    assert len(text.splitlines()) == len(lines) == 1 + len(jobs) + 1  # header, rows, the note: no forged line
    assert not any(c in line for line in lines for c in CONTROL)
    assert lines[1].startswith("/clips/\\rfake.wav") and lines[2].startswith("/clips/\\x1b[2Jreal\\n.wav")
    assert lines[2].endswith("odd\\rwarning") and "/a\\u202eb.wav" in lines[3]


def test_error_and_warning_lines_escape_names_and_messages():
    bad = Job(label="x", error=("/clips/\rerror: forged.wav", "cannot decode audio (\x1b[31mred\x1b[0m)"))
    warned = Job(label="y", result=_result("y", "s", []), warnings=[("/clips/y\n.wav", "clipped\r")])
    lines = output.error_lines([bad, warned])
    assert lines == ["error: /clips/\\rerror: forged.wav: cannot decode audio (\\x1b[31mred\\x1b[0m)",
                     "warning: /clips/y\\n.wav: clipped\\r"]


def test_json_keeps_the_true_names_and_streams_the_document_json_dumps_writes():
    jobs = [Job(label="\r.wav", result=_result("\r.wav", "s", ["w\n"])), Job(label="e", error=("\n.wav", "bad")),
            Job(label="ok.wav", result=_result("ok.wav", "s", []))]
    text = output.to_json(jobs)
    whole = {"emotions": list(EMOTIONS), "min_own_clips": 8, "results": [jobs[0].result, jobs[2].result],
             "errors": [{"file": "\n.wav", "error": "bad"}]}
    assert text == json.dumps(whole, indent=2) + "\n" and "\r" not in text
    assert json.loads(text)["results"][0]["file"] == "\r.wav"
    assert json.loads(output.to_json([])) == {**whole, "results": [], "errors": []}


# --- 13: FIFOs, link loops and devices are named, never opened ---

def _specials(folder: Path) -> dict[str, str]:
    """Special files named .wav/.mp4 in `folder`, each mapped to the words its error must hold."""
    folder.mkdir()
    os.mkfifo(folder / "pipe.wav")
    (folder / "loop.wav").symlink_to("loop.wav")
    (folder / "a.wav").symlink_to("b.wav")
    (folder / "b.wav").symlink_to("a.wav")
    (folder / "zero.mp4").symlink_to("/dev/zero")
    (folder / "gone.wav").symlink_to("nowhere.wav")
    return {"pipe.wav": "a FIFO (named pipe), not a regular file; emo predict reads regular files only",
            "loop.wav": "a symbolic link loop", "a.wav": "a symbolic link loop", "b.wav": "a symbolic link loop",
            "zero.mp4": "a symbolic link to /dev/zero, a character device, not a regular file",
            "gone.wav": "a symbolic link to nowhere.wav, which does not exist"}


def test_special_files_given_by_name_are_said_for_what_they_are(tmp_path):
    expected = _specials(tmp_path / "odd")
    jobs = collect([str(tmp_path / "odd" / name) for name in expected])
    got = {Path(j.error[0]).name: j.error[1] for j in jobs}
    assert all(words in got[name] for name, words in expected.items()), got
    assert "no such file" not in " ".join(got.values())
    assert collect([str(tmp_path / "missing.wav")])[0].error[1] == "no such file or folder"


def test_special_files_in_a_folder_get_a_line_each_and_the_rest_goes_on(tmp_path):
    folder = tmp_path / "odd"
    expected = _specials(folder)
    (folder / "good.wav").write_bytes(b"RIFF")  # collect reads nothing: any regular file is a job
    (folder / "pipe").symlink_to("pipe.wav")  # no clip's suffix: skipped like any other file
    jobs = collect([str(folder)])
    assert [Path(j.audio).name for j in jobs if not j.error] == ["good.wav"]
    got = {Path(j.error[0]).name: j.error[1] for j in jobs if j.error}
    assert sorted(got) == sorted(expected) and all(words in got[name] for name, words in expected.items())


def test_a_socket_and_a_fifo_in_a_pair_are_named_and_the_reader_refuses_them(tmp_path):
    server = socket.socket(socket.AF_UNIX)
    here = os.getcwd()
    os.chdir(tmp_path)  # a socket's path must be short
    try:
        server.bind("talk.wav")
        (job,) = collect([str(tmp_path / "talk.wav")])
    finally:
        os.chdir(here)
        server.close()
    assert job.error[1].startswith("a socket, not a regular file")
    os.mkfifo(tmp_path / "pipe.wav")
    (pair,) = collect([], pairs=[(str(tmp_path / "pipe.wav"), str(tmp_path / "face.mp4"))])
    assert pair.error == (str(tmp_path / "pipe.wav"), pair.error[1]) and pair.error[1].startswith("a FIFO")
    with pytest.raises(media.MediaError, match=r"^a FIFO \(named pipe\), not a regular file"):
        media.read_audio(tmp_path / "pipe.wav", AUDIO)  # a file turned FIFO after collect: still never opened


# --- 12: what the models do not hear is said ---

@pytest.mark.parametrize("kind", ["wav", "mp4"])
def test_a_recording_longer_than_what_is_read_is_said(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(frontend, "MAX_READ_SECONDS", 2.0)  # as a 2-hour recording against the 600 s read
    path = tmp_path / f"talk.{kind}"
    wave = _speech(5.0, 16000)
    soundfile.write(path, wave, 16000) if kind == "wav" else _sound_mp4(path, wave, 16000)
    _, warnings = media.read_audio(path, AUDIO, from_video=kind == "mp4")
    assert len(warnings) == 1 and warnings[0].startswith("5 s long: only its first 2 s were read and scored, the "
                                                         "other 3 s were not; to score all of it, cut it into parts")
    soundfile.write(tmp_path / "short.wav", wave[:16000], 16000)
    assert media.read_audio(tmp_path / "short.wav", AUDIO)[1] == []


@pytest.mark.parametrize("kind", ["wav", "mp4"])
def test_a_recording_below_the_models_rate_is_said(tmp_path, kind):
    for rate, flagged in ((8000, True), (11025, True), (16000, False), (48000, False)):
        path = tmp_path / f"call{rate}.{kind}"
        wave = _speech(3.0, rate)
        soundfile.write(path, wave, rate) if kind == "wav" else _sound_mp4(path, wave, rate)
        _, warnings = media.read_audio(path, AUDIO, from_video=kind == "mp4")
        assert len(warnings) == flagged, (rate, warnings)
        assert not flagged or warnings[0] == (
            f"recorded at {rate} Hz, below the 16000 Hz the models were trained on: it holds nothing above "
            f"{rate / 2000:g} kHz of the 0-8 kHz they listen to, so the prediction is unreliable (give a recording "
            "at 16000 Hz or more)")


# --- 11: memory flat in the number of files, results the same to the bit ---

@pytest.mark.parametrize("hold", [None, 0, 200_000])  # all held, all spilled, spilled from the middle on
def test_group_statistics_equal_split_bin_stats_to_the_bit(hold):
    from emo.predict.store import GroupFeatures

    rng = np.random.default_rng(0)
    blocks = [(rng.standard_normal((rng.integers(1, 5), 64, 188)) * 9 - 30).astype(np.float32) for _ in range(40)]
    videos = [rng.standard_normal((1, 32, 8)).astype(np.float32) for _ in range(40)]
    with GroupFeatures(hold) as store:
        for k, (x, v) in enumerate(zip(blocks, videos, strict=True)):
            store.add(k, {"logmel": x} if k % 3 else {"logmel": x, "video": v})
        assert store.spilled == (hold is not None)
        for feature, arrays in (("logmel", blocks), ("video", videos[::3])):
            mean, std = split.bin_stats(np.concatenate(arrays))
            got = store.stats(feature)
            assert np.array_equal(got[0], mean.astype(np.float32)) and np.array_equal(got[1], std.astype(np.float32))
        assert store.clips("video") == 14 and store.parts(1) == len(blocks[1])
        assert all(np.array_equal(store.get(k)["logmel"], x) for k, x in enumerate(blocks))


def test_a_spilled_group_leaves_no_file_behind(monkeypatch):
    from emo.predict.store import GroupFeatures

    made = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kw: made.append(real(**kw)) or made[-1])
    with pytest.raises(RuntimeError), GroupFeatures(hold_bytes=0) as store:
        store.add(0, {"logmel": np.zeros((1, 4, 5), np.float32)})
        assert not made[0].closed
        raise RuntimeError("a failure half way through the group")
    assert len(made) == 1 and made[0].closed  # anonymous (unlinked at once), and closed: nothing is left


def _tiny_model(runs: int = 2) -> Model:
    """An untrained speaker-normalised network on [16, 20] inputs and a split file's statistics, as a Model."""
    torch.manual_seed(0)
    saved = {"settings": {"model": "emocnn", "dropout": 0.3, "speaker_norm": True}, "input_shapes": [(16, 20)],
             "runs": [{"seed": s, "fold": None, "state": build("emocnn", (16, 20)).state_dict()} for s in range(runs)]}
    rng = np.random.default_rng(1)
    stats = {"actors": np.array([1, 2]), "train_idx": np.array([0, 1]),
             "speaker_mean": rng.standard_normal((3, 16)).astype(np.float32),
             "speaker_std": rng.uniform(0.5, 2, (3, 16)).astype(np.float32),
             "post_speaker_mean": rng.standard_normal((16, 20)).astype(np.float32),
             "post_speaker_std": rng.uniform(0.5, 2, (16, 20)).astype(np.float32)}
    return Model("audio_logmel_balanced", saved, ["logmel"], [stats])


def test_scorer_streams_jobs_and_gives_the_whole_batch_probabilities_to_the_bit():
    from emo.learn.checkpoints import rebuild
    from emo.predict.model import Scorer

    model, rng = _tiny_model(), np.random.default_rng(2)
    jobs = [Job(label=f"{k}.wav", speaker=f"s{k // 50}") for k in range(120)]
    x = {job.label: rng.standard_normal((rng.integers(1, 6), 16, 20)).astype(np.float32) for job in jobs}
    own = {"s0": (rng.standard_normal(16).astype(np.float32), rng.uniform(1, 2, 16).astype(np.float32)),
           "s1": None, "s2": None}  # s1, s2: the training actors' average
    scorer, done, first_done_at = Scorer(model), {}, None
    for k, job in enumerate(jobs):
        for finished, p, note in scorer.add(job, {"logmel": x[job.label]}, {"logmel": own[job.speaker]}, k):
            done[finished.label], first_done_at = (p, note), first_done_at or k
    assert first_done_at is not None and first_done_at < len(jobs) - 1  # results come before the last file
    for finished, p, note in scorer.flush():
        done[finished.label] = (p, note)
    assert list(done) == [job.label for job in jobs] and [n for _, n in done.values()] == list(range(len(jobs)))
    # The reference: every row at once, as `emo predict` scored them before it streamed.
    stacked = np.concatenate([x[job.label] for job in jobs])
    owner = np.concatenate([np.full(len(x[job.label]), k) for k, job in enumerate(jobs)])
    speakers = np.array([jobs[k].speaker for k in owner])
    stats = model.splits[0]
    fallback = (stats["speaker_mean"][[1, 2]].mean(axis=0), stats["speaker_std"][[1, 2]].mean(axis=0))
    by_speaker = {s: o if o is not None else fallback for s, o in own.items()}
    inputs = split.standardise(stacked, (stats["post_speaker_mean"], stats["post_speaker_std"]), speakers, by_speaker)
    per_part = np.mean([predict_proba(rebuild(model.saved, run), inputs, torch.device("cpu"))
                        for run in model.saved["runs"]], axis=0)
    want = np.stack([per_part[owner == k].mean(axis=0) for k in range(len(jobs))])
    assert len(stacked) > 256 and np.array_equal(np.stack([p for p, _ in done.values()]), want)


def test_scorer_fails_a_job_whose_features_do_not_fit_the_model():
    from emo.predict.model import Scorer

    job = Job(label="x.wav", speaker="s")
    assert Scorer(_tiny_model()).add(job, {"logmel": np.zeros((1, 16, 21), np.float32)}, {"logmel": None}) == []
    assert job.error == ("x.wav", "audio_logmel_balanced takes logmel inputs of shape (16, 20), but params.yaml gives "
                                  "(16, 21); predict with the params the model was trained with")
