"""Training runs (one per fold and seed) on worker processes, with the same results as one after the other.

Every run seeds its own generators and computes on a fixed number of torch threads, so a run's weights do
not depend on the process it lands in: with `workers: 2` the two cores train two runs at once, and the
models are bit-identical to those of `workers: 1`, or to those of a Dask cluster (emo.core.executor).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from emo.core import executor
from emo.core.params import TrainSettings
from emo.data.arrays import Arrays
from emo.learn.train import FitResult, fit

log = logging.getLogger(__name__)

# fold (None: the hold-out split) -> arrays per split. It must compare by value (e.g. a frozen dataclass), so that
# a worker can tell that two runs share their arrays, and pickle (it travels to the worker processes).
Loader = Callable[[int | None], dict[str, Arrays]]
Trained = tuple[list[FitResult], list[tuple[int, ...]]]  # a model's runs (fold-major) and its input shapes


@dataclass(frozen=True)
class Run:
    """One model to train: which of the stage's models, which fold's split (None: the hold-out split), which seed."""

    model: int
    fold: int | None
    seed: int


@dataclass(frozen=True)
class Job:
    """A run with everything a worker process needs to carry it out (picklable)."""

    run: Run
    load: Loader
    settings: TrainSettings
    device: str
    threads: int
    desc: str
    progress: bool


def _arrays(load: Loader, fold: int | None) -> dict[str, Arrays]:
    """The arrays of `fold`, loaded once per process, run and fold: the runs of one fold that a worker trains one
    after the other share them (the previous fold's are let go first)."""
    return executor.kept((load, fold), lambda: load(fold))


def fit_run(job: Job) -> tuple[FitResult, list[tuple[int, ...]]]:
    """Train one run in this process; its result and the shapes of one clip of each input."""
    if job.threads:
        torch.set_num_threads(job.threads)
    arrays = _arrays(job.load, job.run.fold)
    desc = job.desc if job.run.fold is None else f"{job.desc} fold {job.run.fold}"
    result = fit(arrays["train"], arrays["val"], job.settings, job.run.seed, torch.device(job.device),
                 progress=job.progress, desc=desc)
    result.fold = job.run.fold
    return result, arrays["train"].shapes


def worker_count(workers: int, runs: int, device: torch.device) -> int:
    """How many processes to train on: never more than runs or cores, and one on a GPU (it is shared)."""
    if device.type != "cpu":
        return 1
    return max(1, min(workers, runs, os.cpu_count() or 1))


def worker_threads(threads: int, workers: int) -> int:
    """Torch threads per process: `threads` if set, else the cores shared out (0 in one process: torch's own)."""
    if threads or workers == 1:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)


def _name(job: Job) -> str:
    """A run as errors name it."""
    return f"{job.desc}{'' if job.run.fold is None else f' fold {job.run.fold}'} seed {job.run.seed}"


def train_models(models: list[tuple[Loader, list[int | None], str]], seeds: tuple[int, ...],
                 settings: TrainSettings, device: torch.device, workers: int = 1, threads: int = 1,
                 progress: bool = True, scheduler: str = executor.LOCAL) -> list[Trained]:
    """Every (loader, folds, name) model's runs, one per fold and seed, on up to `workers` processes (or the Dask
    cluster of `scheduler`, each run on the torch threads it would have here); per model its results (fold-major)
    and input shapes. The results depend on neither `workers` nor `scheduler`.

    All the models of a stage share one pool, so that both cores stay busy to the end: three seeds of one
    model would leave a core idle for a third of the time.
    """
    runs = [Run(index, fold, seed) for index, (_, folds, _) in enumerate(models) for fold in folds for seed in seeds]
    workers = worker_count(workers, len(runs), device)
    per_process = worker_threads(threads, workers)
    here = workers == 1 and not scheduler
    jobs = [Job(run, models[run.model][0], settings, str(device), per_process, models[run.model][2],
                progress and here) for run in runs]
    trained: list[Trained] = [([], []) for _ in models]
    bar = tqdm(total=len(jobs), desc=f"train ({'Dask' if scheduler else f'{workers} processes'})", unit="model",
               disable=not progress or here)
    with bar, closing(executor.run_ordered(fit_run, jobs, workers=workers, scheduler=scheduler, name=_name)) as results:
        for job, (result, shapes) in zip(jobs, results, strict=True):
            trained[job.run.model][0].append(result)
            trained[job.run.model][1][:] = shapes  # the same for every run of a model
            bar.update()
            log.info("%s%s seed %d: %d epochs in %.0f s", job.desc, "" if result.fold is None else
                     f" fold {result.fold}", result.seed, len(result.history), result.seconds)
    return trained


def train_runs(load: Loader, folds: list[int | None], seeds: tuple[int, ...], settings: TrainSettings,
               device: torch.device, workers: int = 1, threads: int = 1, desc: str = "train",
               progress: bool = True, scheduler: str = executor.LOCAL) -> Trained:
    """One model's runs, one per fold and seed (fold-major order), on up to `workers` processes (or Dask's)."""
    return train_models([(load, folds, desc)], seeds, settings, device, workers, threads, progress, scheduler)[0]
