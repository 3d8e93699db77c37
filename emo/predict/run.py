"""`emo predict`, the run: the jobs for the files given and the models they need (`plan`), then one speaker group
at a time (`score`): each file's features (a failed file never stops the rest), the statistics that standardise
the group, and each model's probabilities. A scored job is handed out at once and kept by nobody else, and a big
group's features wait on disk (`store`), so memory stays flat in the number of files."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.core import layout
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS
from emo.core.text import echo
from emo.learn.calibration import TEMPERATURES, apply_temperature, load_temperatures
from emo.predict import speakers as grouping
from emo.predict.jobs import Job, PredictError, collect, short_error
from emo.predict.model import DEFAULT_MODELS, MIN_OWN_CLIPS, EnsembleModel, Featurizer, Model, Scorer, load_model
from emo.predict.output import warning_records
from emo.predict.shipped import Shipped
from emo.predict.store import GroupFeatures

#: Scored jobs held back behind one whose model waits for a batch of rows (a lone fusion job before thousands
#: of audio files): past this many, that model's rows are scored as they are.
MAX_WAITING = 1024


@dataclass
class Plan:
    """What `emo predict` was asked, checked: the jobs as collected (speaker groups and models named, no file read
    yet), the models they need (loaded, or the PredictError that fails their jobs), and how to score them
    (`speaker_stats`: as --speakers leaves it, `speakers.statistics`)."""

    jobs: list[Job]
    models: dict[str, Model | EnsembleModel | PredictError]
    featurizer: Featurizer
    speaker_stats: str
    temperatures: dict[str, float]


def plan(paths: list[str], pairs: list[tuple[str, str]] = (), root: Path = Path("."), models: list[str] = (),
         speaker_stats: str = "auto", pair: bool = True, speakers: str = "auto",
         shipped: Shipped | None = None) -> Plan:
    """The jobs for the files, folders and pairs given, each with its speaker group (--speakers, see
    `speakers.MODES`) and the model of its kind (the default, or the one --model names), and those models loaded
    (from `root`, or the `shipped` model for audio); a PredictError for an argument no job could use."""
    speaker_stats = grouping.statistics(speakers=speakers, speaker_stats=speaker_stats)
    if shipped is not None:
        return _planned(paths, pairs, pair, speakers, speaker_stats, shipped)
    params = load_params(root / "params.yaml")
    chosen = dict(DEFAULT_MODELS)
    for name in models:
        kind = "fusion" if name.startswith("fusion") else name.split("_")[0]
        if kind not in chosen:
            raise PredictError(f"--model {echo(name)}: expected a name of models/*.pt: audio_<feature>_<balance>, "
                               "video_<balance> or fusion")
        chosen[kind] = name
    temperatures = load_temperatures(root / TEMPERATURES)
    jobs = collect(paths, pairs, pair)
    grouping.assign(jobs, speakers=speakers)
    loaded: dict[str, Model | EnsembleModel | PredictError] = {}
    for job in jobs:
        if not job.error:
            job.model = chosen[job.kind]
            if job.model not in loaded:
                try:
                    loaded[job.model] = load_model(root, job.model, params)
                except PredictError as err:
                    loaded[job.model] = err
    return Plan(jobs, loaded, Featurizer(params, root), speaker_stats, temperatures)


def _planned(paths: list[str], pairs: list[tuple[str, str]], pair: bool, speakers: str, speaker_stats: str,
             shipped: Shipped) -> Plan:
    """`plan` with the shipped model: audio jobs go to it; a video or fusion job fails (nothing shipped for it)."""
    jobs = collect(paths, pairs, pair)
    grouping.assign(jobs, speakers=speakers)
    name = shipped.model.name
    for job in jobs:
        if not job.error:
            job.model = name if job.kind == "audio" else f"{job.kind} (not shipped)"
    loaded: dict[str, Model | EnsembleModel | PredictError] = {name: shipped.model}
    loaded.update({job.model: PredictError(f"only an audio model is shipped; give --project DIR with trained "
                                           f"{job.kind} models for videos") for job in jobs
                   if not job.error and job.kind != "audio"})
    return Plan(jobs, loaded, Featurizer(shipped.params, Path(".")), speaker_stats, {name: shipped.temperature})


def score(work: Plan, progress: bool | None = None) -> Iterator[Job]:
    """Every job of the plan with its probabilities (`job.result`) or its one-line error (`job.error`), a speaker
    group at a time, in the order of each group's first file, each handed out once its rows are scored. The plan
    hands its jobs over (`work.jobs` is emptied): a job the caller is done with is then let go of."""
    todo = sum(not job.error for job in work.jobs)
    queue, work.jobs = deque(grouping.groups(work.jobs)), []
    scorers = {name: Scorer(model) for name, model in work.models.items() if not isinstance(model, PredictError)}
    waiting: deque[Job] = deque()  # in output order; the first may wait for a batch of its model's rows
    # No bar for a single file; tqdm's own default (None) hides it when stderr is not a terminal.
    with tqdm(total=todo, desc="predict", unit="file", disable=True if todo < 2 else progress) as bar:
        while queue:
            for job in _group(queue.popleft(), work, bar, scorers):
                waiting.append(job)
                if len(waiting) > MAX_WAITING and not _done(waiting[0]):  # a rare model's job holds the line up
                    _finish(scorers[waiting[0].model].flush(), work)
                while waiting and _done(waiting[0]):
                    yield waiting.popleft()
        for scorer in scorers.values():
            _finish(scorer.flush(), work)
    yield from waiting


def predict(paths: list[str], pairs: list[tuple[str, str]] = (), root: Path = Path("."), models: list[str] = (),
            speaker_stats: str = "auto", pair: bool = True, progress: bool | None = None,
            speakers: str = "auto") -> list[Job]:
    """Every job, scored (`score`), as one list: for a caller that keeps them all anyway."""
    return list(score(plan(paths, pairs, root, models, speaker_stats, pair, speakers), progress))


def _featurize(job: Job, work: Plan) -> None:
    """The job's features for each input of its model (`job.features`), or its error."""
    model = work.models[job.model]
    if isinstance(model, PredictError):
        job.fail(job.label, str(model))
        return
    audio = None  # the audio is read once for all its features (the default model takes two)
    for feature in model.inputs:
        path = job.video if feature == layout.VIDEO else job.audio
        try:
            if feature == layout.VIDEO:
                embeddings, job.faces = work.featurizer.video(job)
                job.features[feature] = embeddings[None]  # one part, as an audio file's features
            else:
                audio = audio or work.featurizer.audio(job, parts=job.kind == "audio")
                job.features[feature] = audio[feature]
        except Exception as err:  # any unreadable file: name it and go on with the batch
            job.fail(path, short_error(err, path))
            return


def _done(job: Job) -> bool:
    return bool(job.error or job.result)


def _group(group: list[Job], work: Plan, bar, scorers: dict[str, Scorer]) -> Iterator[Job]:
    """One speaker group's jobs, in order, each once its rows are queued to its model's Scorer: every file's
    features first (they make the group's own statistics), kept in a GroupFeatures until then. Where the group's
    own statistics normalise a job and every file of the group names one emotion, the job says so (`erased`)."""
    with GroupFeatures() as store:
        for key, job in enumerate(group):
            if not job.error:
                _featurize(job, work)
                bar.update()
            if not job.error:
                store.add(key, job.features)
                job.features = {}
        inputs = dict.fromkeys(f for job in group if not job.error for f in work.models[job.model].inputs)
        clips = {f: store.clips(f) for f in inputs}
        sources = {f: ("own" if n >= MIN_OWN_CLIPS else "training") if work.speaker_stats == "auto"
                   else work.speaker_stats for f, n in clips.items()}
        own = {f: store.stats(f) if source == "own" else None for f, source in sources.items()}
        erased = grouping.erased([job.audio or job.video for job in group if not job.error])
        pending = deque(enumerate(group))
        del group
        while pending:
            key, job = pending.popleft()
            if not job.error:
                model = work.models[job.model]
                stats = {f: {"source": sources[f], "clips": clips[f]} for f in model.inputs}
                if erased and model.speaker_norm and any(sources[f] == "own" for f in model.inputs):
                    job.warnings.append((str(job.audio or job.video), erased))
                _finish(scorers[job.model].add(job, store.get(key), own, stats if model.speaker_norm else None), work)
            yield job


def _finish(done: list[tuple[Job, np.ndarray, dict | None]], work: Plan) -> None:
    """The results of jobs scored (job, probabilities averaged over the runs and parts, speaker statistics),
    temperature-scaled where the calibrate stage left the model a temperature (the prediction is kept)."""
    for job, raw, stats in done:
        model = work.models[job.model]
        scaled = {"temperature": work.temperatures[job.model]} if job.model in work.temperatures else None
        shown = apply_temperature(raw[None], scaled["temperature"])[0] if scaled else raw
        job.result = {"file": job.label, "audio": str(job.audio) if job.audio else None,
                      "video": str(job.video) if job.video else None, "model": job.model,
                      "seeds": model.seeds, "speaker": job.speaker,
                      "speaker_stats": stats, "faces": job.faces, "warnings": warning_records(job),
                      "calibration": scaled,
                      "prediction": EMOTIONS[int(raw.argmax())],  # scaling keeps the order anyway
                      "probabilities": {e: float(p) for e, p in zip(EMOTIONS, shown, strict=True)}}
