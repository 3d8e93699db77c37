"""`emo predict` reads what a phone or a browser records, by content: every format is made here from one clip
(a generated speech-like one, and a real RAVDESS FLAC where the mirror is present) by encoding it with PyAV (or
libsndfile, for the two codecs this PyAV cannot encode), then decoded and compared with the original."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from emo.audio import frontend
from emo.audio import signal as audio_signal
from emo.audio.utterance import MAX_READ_SECONDS
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS, parse_name
from emo.data.fixtures import FixtureSpec, synth_audio
from emo.predict import decode, media
from emo.predict.jobs import collect
from encoded import encode
from shared_data import SHARED, require

av = pytest.importorskip("av")

REPO = Path(__file__).resolve().parents[1]
MODEL = "audio_logmel_balanced"  # the one model the fixture project trains (the formats, not the default, are tested)
CLIP = parse_name("03-01-05-01-01-01-23")
#: (file name, PyAV container format, codec, the rate it is encoded at or None for the clip's); lossy codecs first.
ENCODINGS = (("clip.mp3", "mp3", "libmp3lame", None), ("clip.opus", "ogg", "libopus", 48000),
             ("clip.m4a", "ipod", "aac", None), ("clip.webm", "webm", "libopus", 48000),
             ("clip.mkv", "matroska", "aac", None), ("clip.mov", "mov", "aac", None),
             ("clip.mp4", "mp4", "aac", None), ("ulaw.wav", "wav", "pcm_mulaw", None),
             ("alaw.wav", "wav", "pcm_alaw", None), ("adpcm.wav", "wav", "adpcm_ima_wav", None))


def make_all(folder: Path, wave: np.ndarray, rate: int) -> dict[str, int]:
    """Every format of `wave` in `folder`: file name -> the rate it decodes at."""
    folder.mkdir(parents=True, exist_ok=True)
    rates = {}
    for name, container, codec, at in ENCODINGS:
        rates[encode(folder / name, wave, rate, container, codec, at).name] = at or rate
    soundfile.write(folder / "vorbis.ogg", wave, rate, format="OGG", subtype="VORBIS")  # PyAV's vorbis: stereo only
    rates["vorbis.ogg"] = rate
    # A telephone line: 8 kHz GSM 6.10 (this PyAV decodes gsm_ms but cannot encode it).
    soundfile.write(folder / "gsm.wav", _resample(wave, rate, 8000), 8000, subtype="GSM610")
    rates["gsm.wav"] = 8000
    # The same bytes under a wrong or no extension: judged by content when given by name.
    shutil.copy(folder / "clip.m4a", folder / "m4a-named.wav")
    shutil.copy(folder / "clip.mp3", folder / "mp3-named.dat")
    rates["m4a-named.wav"], rates["mp3-named.dat"] = rates["clip.m4a"], rates["clip.mp3"]
    return rates


def _resample(wave: np.ndarray, rate: int, to: int) -> np.ndarray:
    import librosa

    return librosa.resample(wave, orig_sr=rate, target_sr=to, res_type="soxr_hq").astype(np.float32)


def best_corr(original: np.ndarray, decoded: np.ndarray, most: int) -> tuple[float, int]:
    """The highest normalised correlation of two waveforms at one rate over delays of up to `most` samples (a
    codec's priming delay), and that delay."""
    n = len(original)
    decoded = np.pad(decoded, (0, max(n + most - len(decoded), 0)))
    spectrum = np.fft.rfft(decoded[:n + most], 2 * (n + most)) * np.conj(np.fft.rfft(original, 2 * (n + most)))
    lags = np.fft.irfft(spectrum)[:most + 1]
    lag = int(np.argmax(lags))
    energy = np.sqrt(np.sum(original ** 2) * np.sum(decoded[lag:lag + n] ** 2))
    return float(lags[lag] / energy), lag


def _sources() -> dict[str, tuple[np.ndarray, int]]:
    return {"generated": (synth_audio(CLIP, FixtureSpec()), FixtureSpec().sample_rate)}


def _real() -> tuple[np.ndarray, int]:
    flac = require(SHARED / "ravdess/Audio_Speech_Actors_01-24/Actor_17/03-01-06-02-01-01-17.flac", "a RAVDESS FLAC")
    wave, rate = soundfile.read(flac, dtype="float32")
    return wave, rate


def _check_formats(folder: Path, wave: np.ndarray, rate: int) -> None:
    """Every format decodes at its rate, to the clip's length (a codec's padding aside: 50 ms, or one IMA ADPCM
    block of 2041 frames, at most), to a
    waveform that correlates with the original's (codec delays are removed by the decoders: the best lag is 0)."""
    rates = make_all(folder, wave, rate)
    for name, at in rates.items():
        block, got, frames = decode.read_span(str(folder / name), span=lambda native, _: (0, 10 ** 9),
                                              container=name.endswith(".mp4"))
        assert got == at and block.shape == (frames, 1) and block.dtype == np.float32, name
        assert 0 <= frames - round(len(wave) * at / rate) <= max(0.05 * at, 2048), (name, frames)
        heard = block[:, 0] if at == rate else _resample(block[:, 0], at, rate)
        # Measured (generated clip, real FLAC): G.711 and ADPCM >= 0.9996, aac >= 0.996, mp3 >= 0.996, vorbis
        # >= 0.998, opus >= 0.979; GSM 6.10 (8 kHz, 13 kbit/s) >= 0.956. The clip shifted by 1/3 s: 0.80 / 0.04.
        best, lag = best_corr(wave, heard, rate // 10)
        assert best > (0.94 if name == "gsm.wav" else 0.97) and lag == 0, (name, best, lag)


def test_every_format_decodes_to_its_rate_length_and_waveform(tmp_path):
    wave, rate = _sources()["generated"]
    _check_formats(tmp_path, wave, rate)


@pytest.mark.realdata
def test_every_format_of_a_real_ravdess_clip_decodes_to_its_waveform(tmp_path):
    wave, rate = _real()
    _check_formats(tmp_path, wave.mean(axis=1) if wave.ndim > 1 else wave, rate)


def test_files_soundfile_reads_stay_on_its_path_bit_for_bit(tmp_path, monkeypatch):
    wave, rate = _sources()["generated"]
    for subtype, name in (("PCM_16", "a.wav"), ("FLOAT", "b.wav"), ("PCM_24", "c.flac"), ("ULAW", "d.wav")):
        soundfile.write(tmp_path / name, wave, rate, subtype=subtype)
    monkeypatch.setattr(decode, "pyav_span", lambda *_, **__: pytest.fail("PyAV decoded a file libsndfile reads"))
    for name in ("a.wav", "b.wav", "c.flac", "d.wav"):
        span = lambda native, _: (native // 2, 2 * native)  # noqa: E731
        ours = decode.read_span(str(tmp_path / name), span=span)
        theirs = audio_signal.read_span(str(tmp_path / name), span)
        assert ours[1:] == theirs[1:] and np.array_equal(ours[0], theirs[0]), name


def test_a_long_recording_is_decoded_only_as_far_as_the_models_read(tmp_path, monkeypatch):
    """An 11-minute m4a (PyAV's path): 600 s are decoded, not 660, and the cut is said."""
    rate, seconds = 8000, 660
    tone = (0.3 * np.sin(2 * np.pi * 180 * np.arange(seconds * rate) / rate)).astype(np.float32)
    long = encode(tmp_path / "long.m4a", tone, rate, "ipod", "aac", None)
    params = load_params(REPO / "params.yaml").audio
    front = frontend.for_params(params)
    block, got, frames = decode.read_span(str(long), span=lambda native, _: front.span(native))
    assert got == rate and len(block) == MAX_READ_SECONDS * rate and abs(frames - seconds * rate) < 0.05 * rate
    decoded = []
    real_resampler = av.AudioResampler

    class Counting:
        def __init__(self, **kwargs):
            self.inner = real_resampler(**kwargs)

        def resample(self, frame):
            out = self.inner.resample(frame)
            decoded.extend(f.samples for f in out)
            return out

    monkeypatch.setattr(av, "AudioResampler", Counting)
    _, warnings = media.read_audio(long, params)
    assert MAX_READ_SECONDS * rate <= sum(decoded) < (MAX_READ_SECONDS + 1) * rate
    assert any(w.startswith(f"{seconds} s long: only its first 600 s were read") for w in warnings), warnings


def test_a_file_given_by_name_is_judged_by_content_and_a_folder_by_extension(tmp_path):
    wave, rate = _sources()["generated"]
    folder = tmp_path / "batch"
    make_all(folder, wave, rate)
    (folder / "notes.txt").write_text("not a recording")
    found = {Path(j.audio).name for j in collect([str(folder)], pair=False) if j.audio and not j.error}
    assert found == {name for name, *_ in ENCODINGS} | {"vorbis.ogg", "gsm.wav", "m4a-named.wav"}  # not .dat/.txt
    named = collect([str(folder / "mp3-named.dat"), str(folder / "notes.txt")], pair=False)
    assert named[0].audio and not named[0].error
    assert named[1].error and named[1].error[1].startswith("unsupported file type '.txt'; expected a recording: wav")


@pytest.fixture(scope="module")
def audio_project(tmp_path_factory) -> Path:
    """A project with one trained audio model (cheap: one seed, two epochs), as test_predict.py makes four."""
    from dataclasses import replace

    import torch

    from emo.audio.featurize import featurize
    from emo.core import layout
    from emo.core.params import TrainSettings
    from emo.core.ravdess import ActorSplit, expected_clips
    from emo.data import datasets, split
    from emo.data.augment import PlannedClip
    from emo.learn import checkpoints, parallel

    root = tmp_path_factory.mktemp("formats")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["audio"]["workers"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    p, spec, plan = load_params(root / "params.yaml"), FixtureSpec(), []
    for actor in (1, 2, 21, 23):
        for clip in expected_clips("audio_speech", [actor])[::7][:8]:
            wav = root / "raw" / f"Actor_{actor:02d}" / f"{clip.stem}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, synth_audio(clip, spec), spec.sample_rate, subtype="PCM_16")
            plan.append(PlannedClip(index=len(plan), path=str(wav), video=None, split=ActorSplit().of(actor),
                                    actor=actor, label=clip.label, performance=clip.performance, op="original",
                                    balance=False, pitch=0.0, shift=0, noise_seed=0))
    settings = replace(TrainSettings(), lr=1e-2, max_epochs=2, batch_size=8)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        featurize(plan, p.audio, p.augment.noise_amplitude, Path("data/features"), progress=False)
        split.prepare(np.load(layout.feature_file("logmel")), plan, np.load(layout.valid_file("logmel")), True,
                      layout.split_file("logmel", "balanced"))
        arrays = datasets.load_model_inputs("logmel", "balanced", settings.speaker_norm, None)
        runs, _ = parallel.train_runs(lambda fold: arrays, [None], (0,), settings, torch.device("cpu"),
                                      progress=False)
        saved = checkpoints.checkpoint(runs, settings, arrays["train"].shapes, preset="ours", model="logmel",
                                       balance="balanced", fusion=None)
        checkpoints.save(saved, root / "models" / f"{MODEL}.pt")
    return root


@pytest.mark.realdata
def test_predict_answers_for_every_format_of_a_real_clip(audio_project, tmp_path, capsys):
    from emo import cli

    flac = SHARED / "ravdess/Audio_Speech_Actors_01-24/Actor_17/03-01-06-02-01-01-17.flac"
    wave, rate = _real()
    rates = make_all(tmp_path, wave.mean(axis=1) if wave.ndim > 1 else wave, rate)
    shutil.copy(flac, tmp_path / flac.name)
    given = [str(tmp_path / name) for name in [*sorted(rates), flac.name]]
    assert cli.main(["predict", "--project", str(audio_project), "--model", MODEL, "--speaker-stats", "training",
                     "--json", *given]) == 0
    report = json.loads(capsys.readouterr().out)
    results = {Path(r["file"]).name: r for r in report["results"]}
    assert sorted(results) == sorted([*rates, flac.name]) and report["errors"] == []
    assert all(r["prediction"] in EMOTIONS for r in results.values())


def test_predict_answers_for_every_format_and_names_a_file_it_cannot_read(audio_project, tmp_path, capsys):
    from emo import cli

    wave, rate = _sources()["generated"]
    folder = tmp_path / "batch"
    rates = make_all(folder, wave, rate)
    mp3 = (folder / "clip.mp3").read_bytes()
    (folder / "cut.mp3").write_bytes(mp3[:100])  # truncated in its first frame
    (folder / "text.opus").write_text("a text file named .opus\n")
    given = [str(folder / name) for name in sorted(rates)] + [str(folder / "cut.mp3"), str(folder / "text.opus")]
    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", "--project", str(audio_project), "--model", MODEL, "--speaker-stats", "training",
                  "--json", *given])
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    results = {Path(r["file"]).name: r for r in report["results"]}
    assert sorted(results) == sorted(rates) and all(r["prediction"] in EMOTIONS for r in results.values())
    warned = {name for name, r in results.items() if r["warnings"]}
    assert warned == {"gsm.wav"}  # 8 kHz, below the models' 16 kHz: said
    errors = {Path(e["file"]).name: e["error"] for e in report["errors"]}
    assert sorted(errors) == ["cut.mp3", "text.opus"]
    for line in errors.values():
        assert line.startswith("cannot decode audio") and decode.FORMATS in line and "\n" not in line, line
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert sorted(lines) == sorted(f"error: {folder / name}: {errors[name]}" for name in errors)


def test_a_long_recording_whose_container_gives_no_length_is_still_said_to_be_cut(tmp_path, monkeypatch):
    """A browser's webm (MediaRecorder) holds no duration: the length is estimated from the bytes decoded."""
    rate, seconds = 8000, 700
    tone = (0.3 * np.sin(2 * np.pi * 180 * np.arange(seconds * rate) / rate)).astype(np.float32)
    long = encode(tmp_path / "long.m4a", tone, rate, "ipod", "aac", None)
    monkeypatch.setattr(decode, "_container_seconds", lambda *_: 0.0)
    block, _, frames = decode.read_span(str(long), span=lambda native, _: (0, int(MAX_READ_SECONDS * native)))
    assert len(block) == MAX_READ_SECONDS * rate and abs(frames / rate - seconds) < 0.02 * seconds, frames / rate
