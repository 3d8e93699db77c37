"""`emo predict`, the run: jobs for the files given, each model loaded once, features computed per file (a failed
file never stops the rest), then per speaker group the statistics that standardise it and each model's
probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.core import layout
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS
from emo.learn.calibration import TEMPERATURES, apply_temperature, load_temperatures
from emo.predict.jobs import Job, PredictError, collect, short_error
from emo.predict.model import DEFAULT_MODELS, MIN_OWN_CLIPS, Featurizer, Model, load_model, own_stats, run_model
from emo.predict.output import warning_records

SPEAKER_STATS = ("auto", "own", "training")


def predict(paths: list[str], pairs: list[tuple[str, str]] = (), root: Path = Path("."), models: list[str] = (),
            speaker_stats: str = "auto", pair: bool = True, progress: bool | None = None) -> list[Job]:
    """Every job's probabilities (`job.result`) or one-line error (`job.error`); a failed file never stops the rest."""
    if speaker_stats not in SPEAKER_STATS:
        raise PredictError(f"--speaker-stats {speaker_stats!r}: expected one of {', '.join(SPEAKER_STATS)}")
    params = load_params(root / "params.yaml")
    chosen = dict(DEFAULT_MODELS)
    for name in models:
        kind = "fusion" if name.startswith("fusion") else name.split("_")[0]
        if kind not in chosen:
            raise PredictError(f"--model {name}: expected a name of models/*.pt: audio_<feature>_<balance>, "
                               "video_<balance> or fusion")
        chosen[kind] = name
    jobs = collect(paths, pairs, pair)
    loaded: dict[str, Model | PredictError] = {}
    featurizer = Featurizer(params, root)
    todo = [j for j in jobs if not j.error]
    # No bar for a single file; tqdm's own default (None) hides it when stderr is not a terminal.
    for job in tqdm(todo, desc="predict", unit="file", disable=True if len(todo) < 2 else progress):
        name = job.model = chosen[job.kind]
        if name not in loaded:
            try:
                loaded[name] = load_model(root, name)
            except PredictError as err:
                loaded[name] = err
        model = loaded[name]
        if isinstance(model, PredictError):
            job.fail(job.label, str(model))
            continue
        for feature in model.inputs:
            path = job.video if feature == layout.VIDEO else job.audio
            try:
                if feature == layout.VIDEO:
                    embeddings, job.faces = featurizer.video(job)
                    job.features[feature] = embeddings[None]  # one part, as an audio file's features
                else:
                    job.features[feature] = featurizer.audio(job, parts=job.kind == "audio")[feature]
            except Exception as err:  # any unreadable file: name it and go on with the batch
                job.fail(path, short_error(err, path))
                break
    return _finish(jobs, loaded, speaker_stats, load_temperatures(root / TEMPERATURES))


def _finish(jobs: list[Job], loaded: dict, mode: str, temperatures: dict[str, float]) -> list[Job]:
    """Speaker statistics from the jobs' own features, then each model's probabilities for its jobs: the runs'
    average, temperature-scaled where the calibrate stage left the model a temperature (the prediction is kept)."""
    ok = [j for j in jobs if not j.error]
    blocks: dict[tuple[str, str], list[np.ndarray]] = {}
    for job in ok:
        for feature, x in job.features.items():
            blocks.setdefault((job.speaker, feature), []).append(x)
    own = {key: own_stats(found) for key, found in blocks.items()}
    sources = {key: ("own" if len(found) >= MIN_OWN_CLIPS else "training") if mode == "auto" else mode
               for key, found in blocks.items()}
    for name, model in loaded.items():
        mine = [j for j in ok if j.model == name]
        if not mine or not isinstance(model, Model):
            continue
        try:
            probabilities = run_model(model, mine, own, sources)
        except PredictError as err:
            for job in mine:
                job.fail(job.label, str(err))
            continue
        scaled = {"temperature": temperatures[name]} if name in temperatures else None
        shown = apply_temperature(probabilities, scaled["temperature"]) if scaled else probabilities
        for job, raw, row in zip(mine, probabilities, shown, strict=True):
            stats = {f: {"source": sources[(job.speaker, f)], "clips": len(blocks[(job.speaker, f)])}
                     for f in model.inputs} if model.speaker_norm else None
            job.result = {"file": job.label, "audio": str(job.audio) if job.audio else None,
                          "video": str(job.video) if job.video else None, "model": name,
                          "seeds": [r["seed"] for r in model.saved["runs"]], "speaker": job.speaker,
                          "speaker_stats": stats, "faces": job.faces, "warnings": warning_records(job),
                          "calibration": scaled,
                          "prediction": EMOTIONS[int(raw.argmax())],  # scaling keeps the order anyway
                          "probabilities": {e: float(p) for e, p in zip(EMOTIONS, row, strict=True)}}
    return jobs


