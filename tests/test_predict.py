"""`emo predict`: new files through the pipeline's preprocessing give exactly what the evaluate path gives.

One small trained project is built once, without DVC: generated clips of actors 1, 2 (train), 21 (val) and 23
(test), features and face embeddings from the pipeline's own functions, split files from `split.prepare`,
checkpoints from a few epochs of `train.fit`. The evaluate path's probabilities for actor 23's clips are the
reference.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
import yaml

from emo import cli
from emo.audio.featurize import featurize, file_features
from emo.core import layout
from emo.core.errors import EmoError
from emo.core.params import PAPER, FusionParams, TrainSettings
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS, ActorSplit, expected_clips, parse_name
from emo.data import datasets, split
from emo.data.augment import PlannedClip
from emo.data.fixtures import FixtureSpec, face_photo, synth_audio, synth_frames, write_video
from emo.learn import checkpoints, ensemble, evaluate, hybrid, parallel
from emo.predict import decode, media
from emo.predict.jobs import FOLDER_NOTE, Job
from emo.predict.model import MIN_OWN_CLIPS, Featurizer
from emo.predict.output import table, to_json
from emo.predict.run import predict
from emo.vision import faces
from emo.vision.video_features import embed_plan

REPO = Path(__file__).resolve().parents[1]
ACTORS = (1, 2, 21, 23)
PER_ACTOR = 8  # = MIN_OWN_CLIPS: actor 23's folder uses its own statistics, as the split file's were computed
CPU = torch.device("cpu")
SPEC = FixtureSpec()
LOGMEL, BOTH = "audio_logmel_balanced", "audio_both_balanced"  # BOTH: the default, LOGMEL x MFCC^0.5


def _models(root: Path, plan: list[PlannedClip]) -> dict[str, dict[str, np.ndarray]]:
    """Train and save the four models; return each one's evaluate-path probabilities per test performance."""
    # Enough steps to move the probabilities well away from uniform, so that the equality checks discriminate.
    ours = TrainSettings(lr=1e-2, max_epochs=6, batch_size=8, patience=6)
    paper = replace(PAPER, lr=1e-3, max_epochs=2)
    fusion = FusionParams()
    hybrid_recipe = replace(ours, hybrid_svm_c=3.0, hybrid_svm_weight=0.5)
    specs = {"audio_logmel_balanced": ("logmel", "balanced", hybrid_recipe, (0, 1)),  # two seeds averaged, each
             # fused with the SVM beside them (emo.learn.hybrid); with the MFCC one, the default ensemble's members
             "audio_mfcc_balanced": ("mfcc", "balanced", hybrid_recipe, (0, 1)),
             "audio_mfcc_unbalanced": ("mfcc", "unbalanced", paper, (0,)),  # no speaker normalisation
             "video_balanced": ("video", "balanced", ours, (0,)), "fusion": ("fusion", "", ours, (0,))}
    expected, runs_of = {}, {}
    for name, (model, balance, settings, seeds) in specs.items():
        arrays = datasets.load_model_inputs(model, balance, settings.speaker_norm, fusion)
        runs, _ = parallel.train_runs(lambda fold, arrays=arrays: arrays, [None], seeds, settings, CPU, progress=False)
        svms = ([hybrid.fit(arrays["train"].x, arrays["train"].y, svm_c=settings.hybrid_svm_c,
                            weight=settings.hybrid_svm_weight)]
                if hybrid.applies(model, settings.hybrid_svm_c) else [])
        saved = checkpoints.checkpoint(runs, settings, arrays["train"].shapes, preset="ours", model=model,
                                       balance=balance, fusion=vars(fusion) if model == "fusion" else None, svms=svms)
        checkpoints.save(saved, root / "models" / f"{name}.pt")
        test = arrays["test"]  # what stages/evaluate.py scores
        runs_of[name] = {plan[i].performance: p for i, *p in zip(test.index, *evaluate.run_probabilities(
            saved, {None: test}, CPU), strict=True)}
        expected[name] = {performance: np.mean(p, axis=0) for performance, p in runs_of[name].items()}
    # the default model: run k of each member fused (the MFCC one's to the 0.5), the fused runs averaged
    both = ensemble.default(0.5)
    expected[both.name] = {performance: np.mean([both.fuse([p[None] for p in pair])[0] for pair in zip(
        *(runs_of[member][performance] for member in both.models), strict=True)], axis=0)
        for performance in runs_of["audio_logmel_balanced"]}
    return expected


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A trained project in a temporary folder, its raw clips, and the evaluate path's probabilities."""
    root = tmp_path_factory.mktemp("predict")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["audio"]["workers"] = params["video"]["workers"] = 1
    params["video"]["frames"] = 8  # fewer frames: a faster test; predict must follow params.yaml
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    p = load_params(root / "params.yaml")
    face, plan = face_photo(), []
    for actor in ACTORS:
        for clip in expected_clips("audio_speech", [actor])[::7][:PER_ACTOR]:  # several emotions per actor
            wav = root / "raw" / "audio" / f"Actor_{actor:02d}" / f"{clip.stem}.wav"
            mp4 = root / "raw" / "video" / f"Actor_{actor:02d}" / f"02{clip.stem[2:]}.mp4"
            for folder in (wav.parent, mp4.parent):
                folder.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, synth_audio(clip, SPEC), SPEC.sample_rate, subtype="PCM_16")
            write_video(mp4, synth_frames(clip, SPEC, face), SPEC.fps)
            plan.append(PlannedClip(index=len(plan), path=str(wav), video=str(mp4), split=ActorSplit().of(actor),
                                    actor=actor, label=clip.label, performance=clip.performance, op="original",
                                    balance=False, pitch=0.0, shift=0, noise_seed=0))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the pipeline's functions use paths relative to the project, as under `dvc repro`
        featurize(plan, p.audio, p.augment.noise_amplitude, Path("data/features"), progress=False)
        faces.extract([(r.performance, r.video) for r in plan], p.video, layout.FACES, progress=False)
        embed_plan(plan, layout.FACES, p.video, layout.EMBEDDINGS, progress=False)
        for feature, balance in (("logmel", "balanced"), ("mfcc", "balanced"), ("mfcc", "unbalanced"),
                                 ("video", "balanced")):
            split.prepare(np.load(layout.feature_file(feature)), plan, np.load(layout.valid_file(feature)),
                          balance == "balanced", layout.split_file(feature, balance))
        expected = _models(root, plan)
    return {"root": root, "plan": plan, "expected": expected, "params": p}


def _probs(result: dict) -> np.ndarray:
    return np.array([result["probabilities"][e] for e in EMOTIONS])


def _performance(result: dict) -> str:
    return Path(result["audio"] or result["video"]).stem[3:]


def _check_equal(jobs, expected: dict[str, np.ndarray], model: str, count: int = PER_ACTOR) -> None:
    """Every job succeeded with `model`, and its probabilities equal the evaluate path's for that performance."""
    assert [j.error for j in jobs] == [None] * count
    for job in jobs:
        assert job.result["model"] == model
        assert _probs(job.result).sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(_probs(job.result), expected[_performance(job.result)], rtol=1e-4, atol=1e-6)


def test_audio_folder_matches_evaluate_and_averages_seeds(project):
    jobs = predict([str(project["root"] / "raw/audio/Actor_23")], root=project["root"], models=[LOGMEL])
    _check_equal(jobs, project["expected"][LOGMEL], LOGMEL)
    result = jobs[0].result
    assert result["seeds"] == [0, 1] and result["speaker"] == "actor 23"
    assert result["speaker_stats"] == {"logmel": {"source": "own", "clips": MIN_OWN_CLIPS}}


def test_the_default_model_fuses_both_features_run_by_run_as_the_ensemble_stage(project):
    jobs = predict([str(project["root"] / "raw/audio/Actor_23")], root=project["root"])
    _check_equal(jobs, project["expected"][BOTH], BOTH)
    assert jobs[0].result["seeds"] == [0, 1]
    assert jobs[0].result["speaker_stats"] == {f: {"source": "own", "clips": MIN_OWN_CLIPS} for f in ("logmel", "mfcc")}
    # the product of the members' seed ensembles would be another model: the check tells them apart
    alone = {m: np.stack([project["expected"][m][_performance(j.result)] for j in jobs])
             for m in (LOGMEL, "audio_mfcc_balanced")}
    product = ensemble.default(0.5).fuse([alone[LOGMEL], alone["audio_mfcc_balanced"]])
    assert np.abs(product - np.stack([_probs(j.result) for j in jobs])).max() > 1e-4


def test_evaluate_scores_the_seed_ensemble_that_predict_answers_with(project, monkeypatch):
    root = project["root"]
    monkeypatch.chdir(root)
    saved = torch.load(root / "models/audio_logmel_balanced.pt", weights_only=False)
    test = datasets.load_model_inputs("logmel", "balanced", saved["settings"]["speaker_norm"], FusionParams(),
                                      ("test",))["test"]
    metrics, _, _ = evaluate.evaluate_runs(saved, {None: test}, CPU)
    labels = {clip.performance: clip.label for clip in project["plan"]}
    jobs = predict([str(root / "raw/audio/Actor_23")], root=root, models=[LOGMEL])
    right = [int(_probs(job.result).argmax()) == labels[_performance(job.result)] for job in jobs]
    assert metrics["seeds"] == [0, 1] and len(right) == len(test.y) == PER_ACTOR
    assert metrics["ensemble"]["accuracy"] == pytest.approx(np.mean(right))
    # predict fused the SVM beside the CNNs as evaluate does: without it the probabilities are others
    fused = np.mean(evaluate.run_probabilities(saved, {None: test}, CPU), axis=0)
    alone = np.mean(evaluate.run_probabilities({**saved, "svms": []}, {None: test}, CPU), axis=0)
    assert len(saved["svms"]) == 1 and np.abs(fused - alone).max() > 0.05


def test_video_only_mp4_matches_evaluate(project):
    jobs = predict([str(project["root"] / "raw/video/Actor_23")], root=project["root"])
    _check_equal(jobs, project["expected"]["video_balanced"], "video_balanced")
    assert jobs[0].result["faces"]["detected"] == 8  # the Haar cascade found the face in every frame


def test_audio_and_video_folders_pair_into_fusion(project):
    root = project["root"]
    jobs = predict([str(root / "raw/audio/Actor_23"), str(root / "raw/video/Actor_23")], root=root)
    _check_equal(jobs, project["expected"]["fusion"], "fusion")
    assert jobs[0].result["speaker_stats"] == {f: {"source": "own", "clips": 8} for f in ("logmel", "video")}
    separate = predict([str(root / "raw/audio/Actor_23"), str(root / "raw/video/Actor_23")], root=root, pair=False)
    assert sorted(j.result["model"] for j in separate) == [BOTH] * 8 + ["video_balanced"] * 8


def test_explicit_pair_with_few_clips_falls_back_to_training_statistics(project):
    root = project["root"]
    wav, mp4 = (sorted((root / "raw" / kind / "Actor_23").iterdir())[0] for kind in ("audio", "video"))
    (job,) = predict([], pairs=[(str(wav), str(mp4))], root=root)
    assert job.result["model"] == "fusion" and job.result["file"] == f"{wav} + {mp4}"
    assert job.result["speaker_stats"]["video"] == {"source": "training", "clips": 1}
    (own,) = predict([], pairs=[(str(wav), str(mp4))], root=root, speaker_stats="own")
    assert own.result["speaker_stats"]["logmel"]["source"] == "own"
    assert not np.allclose(_probs(own.result), _probs(job.result))


def test_training_average_is_the_fallback_normalisation(project, tmp_path):
    """Files with no RAVDESS name form a group by folder; with too few clips, the training actors' average."""
    root, p = project["root"], project["params"]
    alice = tmp_path / "alice"
    alice.mkdir()
    for i, source in enumerate(sorted((root / "raw/audio/Actor_23").iterdir())[:3]):
        shutil.copy(source, alice / f"take{i}.wav")
    jobs = predict([str(alice)], root=root, models=[LOGMEL])
    assert {j.result["speaker"] for j in jobs} == {f"folder {alice}"}
    assert jobs[0].result["speaker_stats"] == {"logmel": {"source": "training", "clips": 3}}
    saved = torch.load(root / "models/audio_logmel_balanced.pt", weights_only=False)
    stats = dict(np.load(root / "data/split/logmel_balanced.npz"))
    actors = np.unique(stats["actors"][stats["train_idx"]])
    assert actors.tolist() == [1, 2]
    mean, std = stats["speaker_mean"][actors].mean(0), stats["speaker_std"][actors].mean(0)
    x = np.stack([file_features(str(alice / f"take{i}.wav"), p.audio)[0] for i in range(3)])
    x = ((x - mean[:, None]) / std[:, None] - stats["post_speaker_mean"]) / stats["post_speaker_std"]
    want = np.mean(evaluate.run_probabilities(saved, {None: SimpleNamespace(x=x.astype(np.float32))}, CPU), axis=0)
    np.testing.assert_allclose(np.stack([_probs(j.result) for j in jobs]), want, rtol=1e-4, atol=1e-6)


def _mp4(path: Path, wave: np.ndarray | None = None, rate: int = SPEC.sample_rate,
         frames: np.ndarray | None = None) -> None:
    """An mp4 with MPEG-4 video of `frames` and/or AAC sound of the mono `wave`, as RAVDESS's 01-... files."""
    import av

    with av.open(str(path), "w") as out:
        if frames is not None:
            video = out.add_stream("mpeg4", rate=Fraction(SPEC.fps))
            video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if wave is not None:  # every stream before the first packet: muxing writes the header
            sound = out.add_stream("aac", rate=rate)
            sound.layout = "mono"
        if frames is not None:
            for frame in frames:
                out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
            out.mux(video.encode())
        if wave is not None:
            block = av.AudioFrame.from_ndarray(wave[None, :].astype(np.float32), format="fltp", layout="mono")
            block.sample_rate, block.pts, block.time_base = rate, 0, Fraction(1, rate)  # pts 0: AAC priming is cut
            out.mux(sound.encode(block))
            out.mux(sound.encode())


def _av_mp4(path: Path, stem: str, source_wav: Path) -> None:
    """An audio-video mp4 of a generated performance, its sound from a wav."""
    from emo.core.ravdess import parse_name

    wave, rate = soundfile.read(source_wav, dtype="float32")
    _mp4(path, wave, rate, synth_frames(parse_name(f"{stem}.mp4"), SPEC, face_photo()))


def test_audio_video_mp4_goes_to_fusion(project, tmp_path):
    root = project["root"]
    wav = sorted((root / "raw/audio/Actor_23").iterdir())[0]
    mp4 = tmp_path / f"01{wav.stem[2:]}.mp4"
    _av_mp4(mp4, mp4.stem, wav)
    (job,) = predict([str(mp4)], root=root, speaker_stats="own")
    assert job.error is None and job.audio_from_video and job.result["model"] == "fusion"
    # Without a RAVDESS name, the streams decide: sound -> fusion, none -> the video model.
    shutil.copy(mp4, tmp_path / "clip.mp4")
    shutil.copy(sorted((root / "raw/video/Actor_23").iterdir())[0], tmp_path / "face.mp4")
    named = predict([str(tmp_path / "clip.mp4"), str(tmp_path / "face.mp4")], root=root)
    assert [j.result["model"] for j in named] == ["fusion", "video_balanced"]
    # AAC is lossy: the sound track's features are close to, not equal to, those of the wav it was made from.
    p = project["params"]
    logmel = file_features(str(wav), p.audio)[0]
    heard = Featurizer(p, root).audio(Job(audio=mp4, video=mp4, audio_from_video=True))["logmel"]
    assert np.corrcoef(logmel.ravel(), heard.ravel())[0, 1] > 0.95


def test_cli_json_table_model_choice_and_errors(project, tmp_path, capsys):
    root = project["root"]
    batch = tmp_path / "batch"
    batch.mkdir()
    for source in sorted((root / "raw/audio/Actor_23").iterdir())[:2]:
        shutil.copy(source, batch / source.name)
    (batch / "03-01-05-01-01-01-23.wav").write_bytes(b"RIFF\x00\x00 this is not audio")
    (batch / "02-01-08-02-02-02-23.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    (batch / "notes.txt").write_text("not a clip: a folder batch skips it")
    stray = tmp_path / "stray.txt"
    stray.write_text("given by name: reported")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--project", str(root), "--json", str(batch), str(stray)])
    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["emotions"] == list(EMOTIONS) and len(report["results"]) == 2
    assert [e["file"] for e in report["errors"]] == [str(batch / "02-01-08-02-02-02-23.mp4"),
                                                     str(batch / "03-01-05-01-01-01-23.wav"), str(stray)]
    assert "OpenCV cannot open it" in report["errors"][0]["error"]
    assert "unsupported file type '.txt'" in report["errors"][2]["error"]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 3 and lines[1].startswith(f"error: {batch / '03-01-05-01-01-01-23.wav'}: ")
    assert "fetch the data again" not in err  # the pipeline's advice does not apply to a user's file

    good = str(sorted(batch.glob("*.wav"))[0])
    assert cli.main(["predict", "--project", str(root), "--model", "audio_mfcc_unbalanced", good]) == 0
    out, err = capsys.readouterr()
    header, row = out.splitlines()[:2]
    assert header.split()[:3 + len(EMOTIONS)] == ["file", "model", "prediction", *EMOTIONS]
    assert row.startswith(good) and "audio_mfcc_unbalanced" in row and re.search(r"  not used +-$", row)
    assert not err.strip()


def test_missing_models_say_to_run_the_pipeline(project, tmp_path, capsys):
    root = project["root"]
    wav = str(sorted((root / "raw/audio/Actor_23").iterdir())[0])
    (job,) = predict([wav], root=root, models=["audio_logmel_unbalanced"])
    assert job.error[0] == wav
    assert str(root / "models/audio_logmel_unbalanced.pt") in job.error[1] and "make repro" in job.error[1]
    assert "audio_logmel_balanced" in job.error[1]  # the models that are there
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(root / "params.yaml", bare / "params.yaml")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--project", str(bare), wav])
    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    assert f"error: {wav}: {bare / 'models/audio_logmel_balanced.pt'}: model not found" in err
    assert "`make repro` (or `dvc repro`)" in err
    assert "file" not in out  # no table without results


def test_table_and_json_render_results(project):
    jobs = predict([str(project["root"] / "raw/audio/Actor_23")], root=project["root"])
    text = table(jobs)
    assert len(text.splitlines()) == 1 + PER_ACTOR + 1 and "own (8 clips)" in text
    assert len(json.loads(to_json(jobs))["results"]) == PER_ACTOR


def test_calibration_file_scales_the_ensemble_and_keeps_every_prediction(project, tmp_path, capsys):
    """models/calibration.json (the calibrate stage's): the seed ensemble's probabilities, softmax(log p / T),
    said in the output; the predictions are those of the raw ensemble; a model without a T is as before."""
    from emo.learn.calibration import TEMPERATURES, apply_temperature

    root, copy = project["root"], tmp_path / "calibrated"
    for part in ("models", "data/split"):
        shutil.copytree(root / part, copy / part)
    shutil.copy(root / "params.yaml", copy / "params.yaml")
    (copy / TEMPERATURES).write_text(json.dumps({"models": {"audio_logmel_balanced": {"temperature": 2.5}}}))
    folder = str(root / "raw/audio/Actor_23")
    raw, scaled = predict([folder], root=root, models=[LOGMEL]), predict([folder], root=copy, models=[LOGMEL])
    want = apply_temperature(np.stack([_probs(j.result) for j in raw]), 2.5)
    np.testing.assert_allclose(np.stack([_probs(j.result) for j in scaled]), want, rtol=1e-5, atol=1e-7)
    assert [j.result["prediction"] for j in scaled] == [j.result["prediction"] for j in raw]
    assert [int(_probs(j.result).argmax()) for j in scaled] == [EMOTIONS.index(j.result["prediction"]) for j in raw]
    assert np.max(want, axis=1).mean() < np.mean([_probs(j.result).max() for j in raw])  # T > 1: less sure
    assert {j.result["calibration"]["temperature"] for j in scaled} == {2.5}
    assert all(j.result["calibration"] is None for j in raw)
    assert "audio_logmel_balanced T = 2.50" in table(scaled) and "temperature" not in table(raw)
    assert cli.main(["predict", "--project", str(copy), "--model", LOGMEL, "--json", folder]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["calibration"] == {"temperature": 2.5}
    (other,) = predict([str(sorted((root / "raw/audio/Actor_23").iterdir())[0])], root=copy,
                       models=["audio_mfcc_unbalanced"])
    assert other.result["calibration"] is None  # no T for that model: the raw average
    (copy / TEMPERATURES).write_text(json.dumps({"models": {"audio_logmel_balanced": {"temperature": 0}}}))
    with pytest.raises(EmoError, match="not a positive number"):
        predict([folder], root=copy, models=[LOGMEL])


def test_equality_checks_are_sensitive_to_the_normalisation(project):
    """The other speaker statistics move the probabilities well beyond the tolerance of the equality checks."""
    root = project["root"]
    for folder, model in (("audio", BOTH), ("video", "video_balanced")):
        jobs = predict([str(root / "raw" / folder / "Actor_23")], root=root, speaker_stats="training")
        got = np.stack([_probs(j.result) for j in jobs])
        want = np.stack([project["expected"][model][_performance(j.result)] for j in jobs])
        assert np.abs(got - want).max() > 1e-2


def _hostile_batch(folder: Path, source: Path) -> dict[str, str | None]:
    """Files a user might give `emo predict`, made from a good wav; each maps to the words of its error (None: a
    result)."""
    x, rate = soundfile.read(source, dtype="float32")
    folder.mkdir()
    write = lambda name, wave, sr=rate, subtype="PCM_16": soundfile.write(folder / name, wave, sr, subtype=subtype)  # noqa: E731
    write("u8.wav", x, subtype="PCM_U8")
    write("s24.wav", x, subtype="PCM_24")
    write("float.wav", x, subtype="FLOAT")
    write("six.wav", np.stack([x] * 6, axis=1))
    write("k8.wav", x[::2], sr=rate // 2)
    write("clip.flac", x)
    _mp4(folder / "sound.mp4", x, rate)  # sound only: the audio model
    write("loud.wav", np.clip(40 * x, -1, 1))
    write("half.wav", x[:int(1.5 * rate)])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "header.wav").write_bytes(source.read_bytes()[:30])
    write("frameless.wav", x[:0])
    (folder / "text.wav").write_text("a text file renamed .wav\n")
    write("nan.wav", np.where(np.arange(len(x)) % 1000 == 0, np.nan, x), subtype="FLOAT")
    write("blip.wav", x[:rate // 10])
    write("silence.wav", 0 * x)
    (folder / "empty.mp4").write_bytes(b"")
    _mp4(folder / "01-01-01-01-01-01-23.mp4", frames=synth_frames(parse_name("01-01-01-01-01-01-23"), SPEC,
                                                                   face_photo())[:4])  # says audio-video: no sound
    return {"u8.wav": None, "s24.wav": None, "float.wav": None, "six.wav": None, "k8.wav": None, "clip.flac": None,
            "sound.mp4": None, "loud.wav": None, "half.wav": None, "blip.wav": None,
            "empty.wav": "empty file (0 bytes): nothing to analyse",
            "header.wav": "cannot decode audio (Error in WAV file. No 'data' chunk marker.); the file is damaged or "
                          "not audio",
            "frameless.wav": "holds no audio samples",
            "text.wav": "cannot decode audio (Format not recognised.)",
            "nan.wav": "holds NaN or infinite samples",
            "silence.wav": "s (digital silence): nothing to analyse; check the recording's level and that it holds "
                           "speech",
            "empty.mp4": "empty file (0 bytes)",
            "01-01-01-01-01-01-23.mp4": "no audio track; pass a video-only mp4 under a 02-... name"}


def test_hostile_files_get_a_result_or_one_line_naming_the_file_and_the_fix(project, tmp_path, capfd):
    root = project["root"]
    batch = tmp_path / "batch"
    expected = _hostile_batch(batch, sorted((root / "raw/audio/Actor_23").iterdir())[0])
    (tmp_path / "x.wav").mkdir()  # a folder that looks like a file
    given = [str(batch), str(tmp_path / "x.wav"), str(tmp_path / "notes.md"), str(tmp_path / "gone.wav")]
    (tmp_path / "notes.md").write_text("not a clip")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--project", str(root), "--speaker-stats", "training", "--json", *given])
    assert exit_.value.code == 1
    out, err = capfd.readouterr()
    report = json.loads(out)
    results = {Path(r["file"]).name: r for r in report["results"]}
    errors = {Path(e["file"]).name: e["error"] for e in report["errors"]}
    assert sorted(results) == sorted(name for name, words in expected.items() if words is None)
    assert results["sound.mp4"]["model"] == BOTH
    flagged = {name: [w["warning"] for w in r["warnings"]] for name, r in results.items() if r["warnings"]}
    # The utterance front end hears 1.5 s of speech whole (no warning); a 0.1 s blip is too little to trust; an
    # 8 kHz recording lacks the top half of the 16 kHz models' band.
    assert sorted(flagged) == ["blip.wav", "k8.wav", "loud.wav"]
    assert len(flagged["loud.wav"]) == len(flagged["blip.wav"]) == len(flagged["k8.wav"]) == 1
    assert flagged["k8.wav"][0].startswith("recorded at 8000 Hz, below the 16000 Hz the models were trained on")
    assert flagged["blip.wav"][0].startswith("only 0.10 s of voiced audio: too little for a reliable prediction")
    assert re.match(r"clipped: \d+ % of the samples are at full scale", flagged["loud.wav"][0])
    assert errors["silence.wav"].startswith("no voiced audio in its ")
    for name, words in expected.items():
        assert words is None or words in errors.pop(name), (name, errors.get(name))
    assert errors == {"x.wav": f"no recording under this folder ({FOLDER_NOTE})",
                      "gone.wav": "no such file or folder",
                      "notes.md": f"unsupported file type '.md'; expected a recording: {decode.FORMATS}"}
    lines = err.splitlines()  # the process's own stderr: no traceback, no decoder chatter
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), lines
    assert len(lines) == len(report["errors"]) + 3 and f"warning: {batch / 'blip.wav'}: only 0.10 s" in err

    assert cli.main(["predict", "--project", str(root), str(batch / "loud.wav"), str(batch / "u8.wav")]) == 0
    out, err = capfd.readouterr()
    header, loud, plain = out.splitlines()[:3]
    assert header.split()[-1] == "warnings" and loud.endswith("(record or export it at a lower level)")
    assert plain.endswith(" -") and err.startswith(f"warning: {batch / 'loud.wav'}: clipped: ")


def test_a_crafted_checkpoint_is_refused_by_predict_and_runs_no_code(project, tmp_path):
    import pathlib

    class Crafted:
        def __reduce__(self):
            return (pathlib.Path.touch, (tmp_path / "ran",))

    root = tmp_path / "copy"
    shutil.copytree(project["root"], root)
    torch.save({"settings": Crafted()}, root / "models/audio_logmel_balanced.pt")
    wav = str(sorted((root / "raw/audio/Actor_23").iterdir())[0])
    (job,) = predict([wav], root=root)
    assert "refused: it holds pickled Python objects" in job.error[1] and "make repro" in job.error[1]
    assert not (tmp_path / "ran").exists()


def test_names_with_control_characters_cannot_forge_lines_of_the_output(project, tmp_path, capsys):
    """A carriage return at the start of a file name would print a fake row over the real one; escape sequences
    would rewrite the terminal. Every line of the table and of stderr is escaped; JSON keeps the true names."""
    root = project["root"]
    folder = tmp_path / "we\x1b[2Jird"
    folder.mkdir()
    fake = f"\r{'x' * 20}  audio_logmel_balanced  happy  1.000"
    shutil.copy(sorted((root / "raw/audio/Actor_23").iterdir())[0], folder / f"{fake}.wav")
    (folder / "bad\n.wav").write_bytes(b"RIFF\x00\x00 not audio")
    with pytest.raises(SystemExit):
        cli.main(["predict", "--project", str(root), str(folder)])
    out, err = capsys.readouterr()
    lines = out.split("\n")[:-1]
    assert len(out.splitlines()) == len(lines) == 3  # the header, one row, the note: no forged row
    assert not any(c in out + err for c in "\r\x1b") and lines[1].startswith(f"{tmp_path}/we\\x1b[2Jird/\\r")
    assert err.splitlines() == [f"error: {tmp_path}/we\\x1b[2Jird/bad\\n.wav: cannot decode audio (Format not "
                                f"recognised.); {media.UNDECODABLE_FIX}"]
    with pytest.raises(SystemExit):
        cli.main(["predict", "--project", str(root), "--json", str(folder)])
    assert json.loads(capsys.readouterr().out)["results"][0]["file"] == str(folder / f"{fake}.wav")


def test_fifos_links_and_devices_are_named_and_never_block_the_batch(project, tmp_path):
    """In a separate process with a time limit: opening a FIFO waits for a writer and /dev/zero never ends."""
    import os
    import subprocess
    import sys

    root = project["root"]
    folder = tmp_path / "odd"
    folder.mkdir()
    good = folder / "good.wav"
    shutil.copy(sorted((root / "raw/audio/Actor_23").iterdir())[0], good)
    os.mkfifo(folder / "pipe.wav")
    (folder / "loop.wav").symlink_to("loop.wav")
    (folder / "zero.mp4").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "given.wav")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "emo.cli", "predict", "--project", str(root), "--json", str(folder),
                           str(tmp_path / "given.wav"), "/dev/zero"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)  # cwd: `python -m` would put this folder's emo first
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [r["file"] for r in report["results"]] == [str(good)]
    errors = {e["file"]: e["error"] for e in report["errors"]}
    fix = "not a regular file; emo predict reads regular files only: save the recording to a file and give that"
    assert errors == {str(folder / "loop.wav"): "a symbolic link loop, not a file; emo predict reads regular files "
                                                "only: save the recording to a file and give that",
                      str(folder / "pipe.wav"): f"a FIFO (named pipe), {fix}",
                      str(folder / "zero.mp4"): f"a symbolic link to /dev/zero, a character device, {fix}",
                      str(tmp_path / "given.wav"): f"a FIFO (named pipe), {fix}",
                      "/dev/zero": f"a character device, {fix}"}
    assert all(line.startswith("error: ") for line in done.stderr.splitlines()), done.stderr


def test_a_cut_or_band_limited_recording_is_said_in_the_table_json_and_stderr(project, tmp_path, capsys,
                                                                               monkeypatch):
    from emo.audio import frontend

    monkeypatch.setattr(frontend, "MAX_READ_SECONDS", 4.0)  # as a 2-hour recording against the 600 s read
    root = project["root"]
    sources = sorted((root / "raw/audio/Actor_23").iterdir())
    x, rate = np.concatenate([soundfile.read(s, dtype="float32")[0] for s in sources[:3]]), SPEC.sample_rate
    soundfile.write(tmp_path / "long.wav", x, rate)
    soundfile.write(tmp_path / "phone.wav", x[:3 * rate:2], rate // 2)
    files = [str(tmp_path / "long.wav"), str(tmp_path / "phone.wav")]
    long = f"{len(x) / rate:.0f} s long: only its first 4 s were read and scored, the other {len(x) / rate - 4:.0f} s"
    phone = "recorded at 8000 Hz, below the 16000 Hz the models were trained on"
    assert cli.main(["predict", "--project", str(root), *files]) == 0
    out, err = capsys.readouterr()
    rows = out.splitlines()[1:3]
    assert long in rows[0] and phone in rows[1]
    assert err.splitlines()[0].startswith(f"warning: {files[0]}: {long}")
    assert err.splitlines()[1].startswith(f"warning: {files[1]}: {phone}")
    assert cli.main(["predict", "--project", str(root), "--json", *files]) == 0
    warned = [[w["warning"] for w in r["warnings"]] for r in json.loads(capsys.readouterr().out)["results"]]
    assert [len(w) for w in warned] == [1, 1] and warned[0][0].startswith(long) and warned[1][0].startswith(phone)


def test_results_come_a_speaker_group_at_a_time_the_same_to_the_bit(project, tmp_path, monkeypatch, capsys):
    """Memory flat in the number of files: the models score SCORE_ROWS rows at a time, and the jobs of a batch are
    printed and let go of before the next files are read; a group too big to hold waits on disk; the probabilities
    do not change."""
    from emo.predict import model, run, store

    monkeypatch.setattr(model, "SCORE_ROWS", PER_ACTOR)  # one batch per actor folder (256 rows by default)
    root = project["root"]
    actor = root / "raw/audio/Actor_23"
    alice = tmp_path / "alice"
    alice.mkdir()
    for i, source in enumerate(sorted(actor.iterdir())[:3]):
        shutil.copy(source, alice / f"take{i}.wav")
    read, printed = [], []
    real = Featurizer.audio

    def audio(self, job, parts=False):
        if job.audio.parent == alice and not any(p.parent == alice for p in read):
            printed.append(capsys.readouterr().out)  # what the table showed before alice's first file was read
        read.append(job.audio)
        return real(self, job, parts)

    monkeypatch.setattr(Featurizer, "audio", audio)
    work = run.plan([str(actor), str(alice)], root=root)
    assert len(work.jobs) == PER_ACTOR + 3 and not read
    jobs = run.score(work)
    first = next(jobs)
    assert work.jobs == [] and first.result and first.features == {}
    assert sorted(read) == sorted(actor.iterdir())  # the first batch whole, nothing of the next files
    rest = list(jobs)
    assert [j.result["speaker"] for j in rest] == ["actor 23"] * (PER_ACTOR - 1) + [f"folder {alice}"] * 3
    assert all(j.features == {} for j in [first, *rest])
    monkeypatch.setattr(store, "HOLD_BYTES", 0)  # every group spilled to disk
    spilled = predict([str(actor), str(alice)], root=root)
    assert np.array_equal(np.stack([_probs(j.result) for j in [first, *rest]]),
                          np.stack([_probs(j.result) for j in spilled]))
    read.clear()
    capsys.readouterr()
    assert cli.main(["predict", "--project", str(root), str(actor), str(alice)]) == 0
    rows_before = printed[-1].splitlines()
    assert rows_before[0].split()[:3] == ["file", "model", "prediction"] and len(rows_before) == 1 + PER_ACTOR


# --speakers: how files are grouped for per-speaker normalisation, stated rather than guessed (issue 22, item 6).


def _copies(project: dict, folder: Path, files: dict[str, int]) -> None:
    """Copies of actor 23's generated clips (by index) in `folder`, under names with no RAVDESS actor in them."""
    sources = sorted((project["root"] / "raw/audio/Actor_23").iterdir())
    for name, index in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sources[index], folder / name)


def test_speaker_names_under_each_option():
    from emo.predict import speakers

    files = [Path("d/Actor_23/03-01-05-01-01-01-23.wav"), Path("corpus/Angry/a.wav"), Path("corpus/c.wav"),
             Path("alice/x.wav"), Path("bob/03_SAD/y.wav"), Path("OAF_angry/OAF_back_angry.wav")]
    merged = speakers.MERGED
    assert speakers.names(files, speakers="auto") == [
        "actor 23", f"folder corpus{merged}", f"folder corpus{merged}", "folder alice", f"folder bob{merged}",
        "folder OAF_angry"]  # an emotion folder is never a speaker; a speaker's folder holding them stays one
    assert speakers.names(files, speakers="ravdess") == ["actor 23"] + [None] * 5
    assert speakers.names(files, speakers="folder") == [f"folder {f.parent}" for f in files]
    assert speakers.names(files, speakers="one") == ["all files"] * 6
    assert speakers.names(files, speakers="none") == ["none"] * 6
    folders = ["Angry", "HAPPY", "happiness", "Joy", "sadness", "anger", "fear", "Fearful", "disgusted", "surprise",
               "Boredom", "calm", "neu", "ang", "hap", "fea", "dis", "sur", "01_neutral", "sad "]
    assert all(speakers.emotion_folder(name) for name in folders)
    assert not any(speakers.emotion_folder(name) for name in ("Actor_01", "OAF_angry", "alice", "sadie", "."))
    labels = {"OAF_angry/OAF_back_angry.wav": "angry", "1001_DFA_ANG_XX.wav": "angry", "Happy/001.wav": "happy",
              "03-01-07-01-01-01-02.wav": "disgust", "x/take1.wav": None, "happy/sad.wav": None}
    assert {name: speakers.emotion_of(Path(name)) for name in labels} == labels
    assert speakers.erased([Path("a/01_angry.wav"), Path("a/02_ANG.wav")]).startswith(
        "its speaker group holds only 'angry' files (2, by their names)")
    assert speakers.erased([Path("a/01_angry.wav"), Path("a/02_happy.wav")]) is None
    assert speakers.erased([Path("a/01_angry.wav"), Path("a/take.wav")]) is None  # one without a label: unknown


def test_emotion_folders_are_not_speakers_and_a_folder_of_one_emotion_is_warned(project, tmp_path, capsys):
    """A corpus sorted into emotion folders is normalised as one group, as the same files in one folder are; a
    group of one emotion normalised by its own statistics gets a warning in the table, the JSON and on stderr."""
    root, corpus, flat = project["root"], tmp_path / "corpus", tmp_path / "flat"
    _copies(project, tmp_path, {**{f"corpus/angry/take{i}.wav": i for i in range(4)},
                       **{f"corpus/Happy/take{i}.wav": 4 + i for i in range(4)}})
    _copies(project, tmp_path, {**{f"flat/angry_take{i}.wav": i for i in range(4)},  # sorted as corpus/...: Happy first
                       **{f"flat/Happy_take{i}.wav": 4 + i for i in range(4)}})
    jobs = predict([str(corpus)], root=root)
    assert [j.result["speaker"] for j in jobs] == [f"folder {corpus} (emotion folders merged)"] * 8
    assert {json.dumps(j.result["speaker_stats"]) for j in jobs} == {json.dumps(
        {f: {"source": "own", "clips": 8} for f in ("logmel", "mfcc")})}
    assert all(j.result["warnings"] == [] for j in jobs)  # two emotions in the group: nothing erased
    same = predict([str(flat)], root=root)
    assert np.array_equal(np.stack([_probs(j.result) for j in jobs]), np.stack([_probs(j.result) for j in same]))

    stated = predict([str(corpus)], root=root, speakers="folder")  # one speaker per folder, as asked
    assert [j.result["speaker"] for j in stated] == [f"folder {corpus / e}" for e in ["Happy"] * 4 + ["angry"] * 4]
    assert stated[0].result["speaker_stats"] == {f: {"source": "training", "clips": 4} for f in ("logmel", "mfcc")}
    assert all(j.result["warnings"] == [] for j in stated)  # the training statistics erase nothing

    assert cli.main(["predict", "--project", str(root), "--speakers", "folder", "--speaker-stats", "own",
                     str(corpus)]) == 0
    out, err = capsys.readouterr()
    rows = out.splitlines()[1:9]
    said = ("its speaker group holds only '{}' files (4, by their names): normalising by the group's own statistics "
            "erases the emotion cue; use --speaker-stats training or --speakers none, or group files of several "
            "emotions together")
    emotions = ["happy"] * 4 + ["angry"] * 4
    assert all(re.search(rf"  own \(4 clips\) +{re.escape(said.format(e))}$", row)
               for row, e in zip(rows, emotions, strict=True))
    assert err.splitlines() == [f"warning: {j.audio}: {said.format(e)}" for j, e in zip(stated, emotions, strict=True)]
    assert cli.main(["predict", "--project", str(root), "--json", "--speakers", "folder", "--speaker-stats", "own",
                     str(corpus)]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [[w["file"] for w in r["warnings"]] for r in results] == [[r["file"]] for r in results]
    assert [r["warnings"][0]["warning"] for r in results] == [said.format(e) for e in emotions]


def test_a_speaker_folder_of_one_emotion_is_warned_by_default(project, tmp_path, capsys):
    """TESS's layout (a speaker's folder per emotion, `OAF_angry/OAF_back_angry.wav`): a folder that is not named
    after an emotion alone is a speaker under auto, and its 8 clips of one emotion are said to erase the cue."""
    root, folder = project["root"], tmp_path / "OAF_angry"
    _copies(project, tmp_path, {f"OAF_angry/OAF_word{i}_angry.wav": i for i in range(8)})
    assert cli.main(["predict", "--project", str(root), "--json", str(folder)]) == 0
    out, err = capsys.readouterr()
    results = json.loads(out)["results"]
    assert {r["speaker"] for r in results} == {f"folder {folder}"}
    assert [len(r["warnings"]) for r in results] == [1] * 8
    assert results[0]["warnings"][0]["warning"].startswith("its speaker group holds only 'angry' files (8, by their")
    lines = err.splitlines()
    assert len(lines) == 8 and all(line.startswith(f"warning: {folder}/OAF_word") for line in lines)
    assert cli.main(["predict", "--project", str(root), "--speaker-stats", "training", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert not err and all(row.endswith(" -") for row in out.splitlines()[1:9])  # training statistics: no warning


def test_each_speakers_option_groups_as_stated(project, tmp_path):
    root = project["root"]
    actor, alice = root / "raw/audio/Actor_23", tmp_path / "alice"
    _copies(project, tmp_path, {f"alice/take{i}.wav": i for i in range(3)})
    given = [str(actor), str(alice)]
    speakers = lambda jobs: [j.result["speaker"] if j.result else j.error[1] for j in jobs]  # noqa: E731
    ravdess = predict(given, root=root, speakers="ravdess")
    assert speakers(ravdess[:8]) == ["actor 23"] * 8 and [j.result for j in ravdess[8:]] == [None] * 3
    assert [j.error[0] for j in ravdess[8:]] == [str(alice / f"take{i}.wav") for i in range(3)]
    assert all(j.error[1].startswith("not a RAVDESS name (MM-VV-EE-II-SS-RR-AA") for j in ravdess[8:])
    folder = predict(given, root=root, speakers="folder")
    assert speakers(folder) == [f"folder {actor}"] * 8 + [f"folder {alice}"] * 3
    one = predict(given, root=root, speakers="one")
    assert speakers(one) == ["all files"] * 11
    assert one[0].result["speaker_stats"] == {f: {"source": "own", "clips": 11} for f in ("logmel", "mfcc")}
    none = predict(given, root=root, speakers="none")
    assert speakers(none) == ["none"] * 11
    assert {json.dumps(j.result["speaker_stats"]) for j in none} == {json.dumps(
        {f: {"source": "training", "clips": 1} for f in ("logmel", "mfcc")})}
    training = predict(given, root=root, speaker_stats="training")  # grouped, every group on training statistics
    assert np.array_equal(np.stack([_probs(j.result) for j in none]), np.stack([_probs(j.result) for j in training]))
    assert not np.allclose(_probs(one[0].result), _probs(folder[0].result))  # 11 clips' statistics, not actor 23's
    assert speakers(predict(given, root=root, speakers="none", speaker_stats="training")) == ["none"] * 11
    with pytest.raises(EmoError, match="^--speakers none normalises every file by the training actors' statistics, "
                                       "which --speaker-stats own contradicts: drop --speaker-stats own"):
        predict(given, root=root, speakers="none", speaker_stats="own")
    with pytest.raises(EmoError, match="^--speakers actors: expected one of auto, ravdess, folder, one, none$"):
        predict(given, root=root, speakers="actors")


def test_cli_parses_the_speakers_option(monkeypatch, capsys):
    from emo.predict import run

    asked = {}

    def plan(*args, **kwargs):
        asked.update(kwargs, speaker_stats=args[4])
        raise EmoError("stop here")

    monkeypatch.setattr(run, "plan", plan)
    for argv, want in (([], ("auto", "auto")), (["--speakers", "one"], ("one", "auto")),
                       (["--speakers=none", "--speaker-stats", "training"], ("none", "training"))):
        with pytest.raises(SystemExit):
            cli.main(["predict", *argv, "x.wav"])
        assert (asked["speakers"], asked["speaker_stats"]) == want
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--speakers", "emotion", "x.wav"])
    assert exit_.value.code == 2
    assert "--speakers: invalid choice: 'emotion' (choose from 'auto', 'ravdess', 'folder', 'one', 'none')" in (
        capsys.readouterr().err.replace("\n", " "))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--help"])
    assert "--speakers {auto,ravdess,folder,one,none}" in capsys.readouterr().out


def test_the_default_grouping_of_ravdess_names_and_plain_folders_is_unchanged_to_the_bit(project, tmp_path, capsys):
    """auto on today's inputs is the old rule: the RAVDESS actor where the name parses, else the file's folder; the
    table and the JSON are those of the stated options, character for character."""
    root = project["root"]
    actor, alice = str(root / "raw/audio/Actor_23"), str(tmp_path / "alice")
    _copies(project, tmp_path, {f"alice/take{i}.wav": i for i in range(3)})

    def printed(*argv: str) -> str:
        assert cli.main(["predict", "--project", str(root), *argv]) == 0
        out, err = capsys.readouterr()
        assert not err
        return out

    for form in ([], ["--json"]):
        both = printed(*form, actor, alice)
        assert both == printed(*form, "--speakers", "auto", actor, alice)
        assert printed(*form, actor) == printed(*form, "--speakers", "ravdess", actor)
        assert printed(*form, alice) == printed(*form, "--speakers", "folder", alice)
    results = json.loads(both)["results"]
    assert [r["speaker"] for r in results] == ["actor 23"] * 8 + [f"folder {alice}"] * 3
    assert [r["speaker_stats"]["logmel"]["source"] for r in results] == ["own"] * 8 + ["training"] * 3
