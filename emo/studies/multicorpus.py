"""Training on several corpora (issue 14): RAVDESS and the other corpora of `corpora.train`, each alone and together.

Every corpus is split by speaker. RAVDESS keeps the pipeline's hold-out split (split.test tests, split.val validates,
the other actors train); every other corpus is cut into `corpora.folds` folds of its speakers (sorted, in contiguous
groups: EmoDB's ten give 5 folds of 2). Three kinds of model, each of the `train.<preset>` recipe on one input
(FEATURE), trained and scored on original clips only (no augmented copies, RAVDESS's included) so that every corpus
counts alike and the stage stays quick:

- within: each corpus alone: RAVDESS's hold-out split; per fold k of another corpus, fold k tests, the rest train;
- union: per fold k, RAVDESS's training actors with every other corpus's fold-k training speakers, scored on RAVDESS's
  test actors and on each corpus's fold-k test speakers (the argmax over that corpus's own labels);
- leave-one-corpus-out: every corpus but c, all their speakers, scored on all of c over the classes both share.

A model's classes are those its training corpora have (RAVDESS's eight, then other labels such as EmoDB's boredom).
With `speaker_norm` each speaker is standardised by its own clips (no labels used), as the pipeline does; then every
clip by the training rows' element-wise statistics. Validation: with `keep: last` (the ours recipe) validation picks
nothing, so no other speakers are held out for it (RAVDESS's split.val actors still do not train, as in the
pipeline); `fit` then watches the test clips, whose losses choose nothing. With `keep: best` fold k+1 of each other
corpus validates (fold 0 when a model trains on every speaker, RAVDESS then holding out split.val). Folds that
test fewer than MIN_TEST_CLIPS clips or train on fewer than MIN_TRAIN_CLIPS of a class are refused before any
training (emo.studies.corpus_design.check_folds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.core import executor, layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.params import Params
from emo.core.ravdess import EMOTIONS
from emo.data import split
from emo.data.augment import read as read_plan
from emo.data.datasets import read_input, read_rows
from emo.studies import crosscorpus, crossfeatures
from emo.studies.corpus_design import (
    KINDS,
    RAVDESS,
    Experiment,
    check_folds,
    encode,
    experiments,
    model_classes,
    ravdess_speakers,
    scored_classes,
)

log = logging.getLogger(__name__)
METRICS = Path("metrics/multicorpus.json")
#: What metrics/multicorpus.json holds (`dvc metrics show`): accuracy and UAR of each experiment on each corpus scored;
#: spreads, folds, counts, classes, notes and timings go to metrics/multicorpus_detail.json (emo.core.metrics_detail).
HEADLINE = ("*.accuracy", "*.uar")
FEATURE = "logmel"  # the input every model here takes
MAX_SEEDS = 1  # the first of train.seeds only: each seed trains 13 models (RAVDESS + EmoDB), ~5 CPU-minutes
@dataclass
class Pool:
    """Every clip of every corpus: features (each speaker standardised by its own clips if asked) and labels."""

    x: np.ndarray  # float32 [clips, bins, frames]
    corpus: np.ndarray  # corpus name per clip
    speaker: np.ndarray  # "<corpus>:<id>" per clip
    emotion: np.ndarray  # emotion name per clip


def rows(pool: Pool, members: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Indices of the clips of these speakers of these corpora."""
    wanted = {s for speakers in members.values() for s in speakers}
    return np.flatnonzero(np.isin(pool.corpus, list(members)) & np.isin(pool.speaker, list(wanted)))


def arrays(pool: Pool, index: np.ndarray, classes: list[str], stats: dict[str, np.ndarray]):
    """The clips at `index` of the model's classes, standardised by the training statistics, as `Arrays`."""
    from emo.data.arrays import Arrays

    y = encode(pool.emotion[index], classes)
    index = index[y >= 0]
    return Arrays(x=split.standardise(pool.x[index], (stats["mean"], stats["std"])), y=y[y >= 0], index=index)


def run_experiment(pool: Pool, job: tuple[Experiment, int, Params, int]) -> dict:
    """Train one (experiment, seed) on the pool's clips, on the torch threads of one of `workers` processes (the
    job's last item), and score it on each test corpus: n, accuracy and UAR per corpus."""
    import torch

    from emo.learn.models import build
    from emo.learn.parallel import worker_threads
    from emo.learn.train import fit, predict_proba, resolve_device

    experiment, seed, params, workers = job
    settings, device = params.train.settings, resolve_device(params.train.device)
    torch.set_num_threads(worker_threads(params.train.threads, workers) or torch.get_num_threads())
    classes = model_classes(experiment.train)
    train_rows = rows(pool, experiment.train)
    stats = split.global_stats(pool.x[train_rows])
    train = arrays(pool, train_rows, classes, stats)
    watched = arrays(pool, rows(pool, experiment.val if any(experiment.val.values()) else experiment.test),
                     classes, stats)  # validation, else the test clips: see the module's docstring
    result = fit(train, watched if len(watched.y) else train, settings, seed, device, progress=False,
                 desc=f"{experiment.kind} {experiment.name}", n_classes=len(classes))
    model = build(settings.model, [pool.x.shape[1:]], len(classes), dropout=settings.dropout)
    model.load_state_dict(result.state)
    scores = {}
    for name, speakers in experiment.test.items():
        shared = scored_classes(classes, name)
        test = arrays(pool, rows(pool, {name: speakers}), classes, stats)
        keep = np.isin(test.y, shared)
        pred = crosscorpus.restricted_argmax(predict_proba(model, test.x[keep], device), shared)
        scores[name] = {"n": int(keep.sum()), **crosscorpus.shared_scores(test.y[keep], pred, shared)}
    return {"seed": seed, "seconds": result.seconds, "epochs": len(result.history), "classes": classes,
            "scores": scores}


def train_all(pool: Pool, jobs: list[tuple[Experiment, int, Params]], workers: int, progress: bool = True,
              scheduler: str = executor.LOCAL) -> list:
    """Each job's result, in order, on up to `workers` processes (or the Dask cluster of `scheduler`), each sent the
    pool once; as in emo.learn.parallel the results depend on neither."""
    import torch

    from emo.learn.parallel import worker_count
    from emo.learn.train import resolve_device

    workers = worker_count(workers, len(jobs), resolve_device(jobs[0][2].train.device)) if jobs else 1
    where = "Dask" if scheduler else f"{workers} processes"
    bar = tqdm(total=len(jobs), desc=f"multicorpus ({where})", unit="model", disable=not progress)
    threads, results = torch.get_num_threads(), []
    done = executor.run_ordered(run_experiment, [(*job, workers) for job in jobs], workers=workers, shared=pool,
                                scheduler=scheduler, name=lambda job: f"multicorpus {job[0].kind} {job[0].name} "
                                f"fold {job[0].fold} seed {job[1]}")
    try:
        for (experiment, seed, _), result in zip(jobs, done, strict=True):
            results.append(result)
            bar.update()
            log.info("%s %s fold %s seed %d: %d epochs in %.0f s", experiment.kind, experiment.name,
                     experiment.fold, seed, result["epochs"], result["seconds"])
        return results
    finally:
        done.close()
        torch.set_num_threads(threads)
        bar.close()


def summary(runs: list[dict], name: str) -> dict:
    """Accuracy and UAR: the mean and sample std over runs."""
    out = {}
    for key in ("accuracy", "uar"):
        values = np.array([r["scores"][name][key] for r in runs])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def per_fold(pairs: list[tuple[Experiment, dict]], name: str) -> list[dict]:
    """Each fold's test speakers, n, and accuracy and UAR (mean over seeds) on corpus `name`."""
    folds: dict = {}
    for experiment, run in pairs:
        folds.setdefault(experiment.fold, (experiment, []))[1].append(run)
    return [{"fold": fold, "test_speakers": [s.split(":", 1)[1] for s in experiment.test[name]],
             "n": runs[0]["scores"][name]["n"],
             **{key: float(np.mean([r["scores"][name][key] for r in runs])) for key in ("accuracy", "uar")}}
            for fold, (experiment, runs) in folds.items()]


def section(pairs: list[tuple[Experiment, dict]], name: str) -> dict:
    """One corpus's scores in one kind of model: classes, the summary over runs, and each fold's."""
    classes, folds = pairs[0][1]["classes"], per_fold(pairs, name)
    tested = {tuple(f["test_speakers"]): f["n"] for f in folds}  # the union's folds all test RAVDESS's test actors
    return {"classes": [classes[i] for i in scored_classes(classes, name)], "n": sum(tested.values()),
            **summary([r for _, r in pairs], name), "folds": folds}


def seeds_note(seeds: list[int]) -> str:
    """Which of train.seeds the stage trains, and why."""
    if len(seeds) <= MAX_SEEDS:
        return f"train.seeds {seeds}"
    return (f"the first {MAX_SEEDS} of train.seeds {seeds} only: each seed costs about 5 CPU-minutes for RAVDESS + "
            "EmoDB (13 models)")


def metrics(pairs: list[tuple[Experiment, dict]], names: list[str], params: Params, seconds: float) -> dict:
    """The nested metrics/multicorpus.json: within, union and leave_one_out, each per corpus scored."""
    of = {kind: [(e, r) for e, r in pairs if e.kind == kind] for kind in KINDS}
    within = {name: section([(e, r) for e, r in of["within"] if e.name == name], name) for name in names}
    for name in names:
        within[name]["protocol"] = ("holdout (split.val, split.test)" if name == RAVDESS else
                                    f"{params.corpora.folds} speaker folds")
    union = ({"trained_on": names, "classes": of["union"][0][1]["classes"],
              **{name: section(of["union"], name) for name in names}} if of["union"] else {})
    loo = {}
    for experiment, _ in of["leave_one_out"]:
        runs = [(e, r) for e, r in of["leave_one_out"] if e.name == experiment.name]
        entry = section(runs, experiment.name)
        del entry["folds"]
        loo[experiment.name] = {"trained_on": list(experiment.train), **entry}
    settings = params.train.settings
    return {"corpora": names, "feature": FEATURE, "clips": "original clips only (no augmented copies)",
            "model": settings.model, "preset": params.train.preset,
            "seeds": sorted({r["seed"] for _, r in pairs}),
            "seeds_note": seeds_note(list(params.train.seeds)),
            "validation": "none held out: keep last (RAVDESS split.val does not train)" if settings.keep == "last"
            else "keep best: RAVDESS split.val, fold k+1 of the other corpora",
            "std": "sample standard deviation over runs (folds x seeds)",
            "seconds": round(seconds, 1), "train_seconds": round(sum(r["seconds"] for _, r in pairs), 1),
            "within": within, "union": union, "leave_one_out": loo}


def ravdess_clips(root: Path, feature: str = FEATURE) -> dict[str, np.ndarray]:
    """RAVDESS's original clips (valid rows of the plan with audio) from the pipeline's features."""
    plan = read_rows(root / layout.PLAN, "augment", read_plan)
    features = read_input(root / layout.feature_file(feature), "featurize", lambda p: np.load(p, mmap_mode="r"))
    valid = read_input(root / layout.valid_file(feature), "featurize", np.load)
    if not len(plan) == len(features) == len(valid):
        raise EmoError(f"{root / layout.PLAN} ({len(plan)} rows) and {root / layout.feature_file(feature)} "
                       f"({len(features)}) are out of step: run `dvc repro featurize`")
    originals = [p for p in plan if p.op == "original" and p.path and valid[p.index]]
    index = np.array([p.index for p in originals], np.int64)
    return {feature: np.asarray(features[index], np.float32),
            "speaker": np.array(ravdess_speakers([p.actor for p in originals]) if originals else [], dtype=str),
            "emotion": np.array([EMOTIONS[p.label] for p in originals], dtype=str)}


def make_pool(clips: dict[str, dict[str, np.ndarray]], speaker_norm: bool, feature: str = FEATURE) -> Pool:
    """Every corpus's clips in one pool; each speaker standardised by its own clips when `speaker_norm`."""
    shapes = {name: tuple(c[feature].shape[1:]) for name, c in clips.items()}
    if len(set(shapes.values())) > 1:
        raise EmoError(f"the corpora's {feature} features differ in shape {shapes}: params.yaml's audio section "
                       "changed since some were computed; run `dvc repro featurize crossfeatures`")
    x = np.concatenate([c[feature] for c in clips.values()]).astype(np.float32)
    speaker = np.concatenate([c["speaker"].astype(str) for c in clips.values()])
    return Pool(x=split.standardise_speakers(x, speaker) if speaker_norm else x,
                corpus=np.concatenate([[name] * len(c["speaker"]) for name, c in clips.items()]).astype(str),
                speaker=speaker, emotion=np.concatenate([c["emotion"].astype(str) for c in clips.values()]))


def load_clips(names, root: Path = Path(".")) -> dict[str, dict[str, np.ndarray]]:
    """RAVDESS's original clips and each other corpus's (data/crossfeatures), by name."""
    return {name: ravdess_clips(root) if name == RAVDESS else
            crossfeatures.load_features(crossfeatures.features_file(name, root / crossfeatures.FEATURES))
            for name in names}


def evaluate(params: Params, clips: dict[str, dict[str, np.ndarray]], progress: bool = True) -> dict:
    """Train and score every model of the stage on these clips; the metrics."""
    start = time.perf_counter()
    names = [n for n in params.corpora.train if n in clips]
    pool = make_pool({n: clips[n] for n in names}, params.train.settings.speaker_norm)
    speakers = {name: sorted(set(pool.speaker[pool.corpus == name])) for name in names}
    planned = experiments(speakers, ravdess_speakers(params.split.val), ravdess_speakers(params.split.test),
                          params.corpora.folds, params.train.settings.keep == "best")
    check_folds(planned, pool.speaker, pool.emotion, params.corpora.folds)  # before any training
    jobs = [(e, seed, params) for e in planned for seed in params.train.seeds[:MAX_SEEDS]]
    results = train_all(pool, jobs, params.train.workers, progress, params.compute.scheduler)
    return metrics([(job[0], r) for job, r in zip(jobs, results, strict=True)], names, params,
                   time.perf_counter() - start)


def run(params: Params, root: Path = Path("."), progress: bool = True) -> dict:
    """The stage: load the corpora's features, train and score, write metrics/multicorpus.json."""
    out = evaluate(params, load_clips(params.corpora.train, root), progress)
    metrics_detail.write(root / METRICS, out, HEADLINE)
    return out
