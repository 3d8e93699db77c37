"""Compute the plan's features in parallel into two compact arrays: log-mel and MFCC, one row per plan row."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.audio import frontend
from emo.audio import signal as audio
from emo.audio.chain import recording_chain
from emo.core import executor, io
from emo.core.params import AudioParams
from emo.data.augment import PlannedClip
from emo.fetch.refetch import advice

log = logging.getLogger(__name__)


def render(wave: np.ndarray, row: PlannedClip, params: AudioParams, noise_amplitude: float) -> np.ndarray:
    """Apply one planned augmentation to an original waveform."""
    if row.op in ("pitch_up", "pitch_down"):
        return audio.pitch_shift(wave, params.sample_rate, row.pitch)
    if row.op == "shift":
        return audio.time_shift(wave, row.shift)
    if row.op == "noise":
        return audio.add_noise(wave, noise_amplitude, np.random.default_rng(row.noise_seed))
    if row.op == "chain":
        return recording_chain(wave, params.sample_rate, row.noise_seed)
    return wave


def file_features(path: str, params: AudioParams) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel and MFCC of one file, as the featurize stage computes an original (unaugmented) clip."""
    return frontend.for_params(params).file_features(path)


def clip_features(job: tuple[str, list[PlannedClip], AudioParams, float]):
    """Worker: load one source clip once and compute the features of all its planned rows.

    Returns (path, row indices, log-mel block, MFCC block, (short?, how much real audio the models hear:
    FrontEnd.coverage), error); a damaged clip comes back as its problem (no fix: the caller knows the data
    source).
    """
    path, rows, params, noise_amplitude = job
    front = frontend.for_params(params)
    indices = [r.index for r in rows]
    try:
        window = front.read(path)
    except audio.DamagedAudioError as err:
        return path, indices, None, None, (False, 0.0), err.problem
    pairs = [front.features(render(window.wave, row, params, noise_amplitude)) for row in rows]
    return (path, indices, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]),
            (front.is_short(window), front.coverage(window)), None)


def featurize(plan_rows: list[PlannedClip], params: AudioParams, noise_amplitude: float, out: Path,
              progress: bool = True, source: str | None = None, scheduler: str = executor.LOCAL) -> dict:
    """Write out/logmel.npy [N, n_mels, T], out/mfcc.npy [N, n_mfcc, T], out/valid.npy [N] (bool).

    Each source clip is decoded once; clips are spread over `params.workers` processes, or the Dask cluster of
    `scheduler` (compute.scheduler). The result does not depend on either (every random choice is in the plan,
    and every clip is computed on one BLAS thread). A damaged clip stops the run
    (its fix worded for `source`, params.yaml's data.source) or, with `audio.skip_damaged`, is left out and
    counted; a short clip (FrontEnd.is_short: too little voiced audio, or a window mostly zero padding) is kept,
    counted and named. A stop (a damaged clip, a full disk: checked before any clip is computed, Ctrl-C) leaves
    the outputs as they were and no temporary file behind.
    """
    n = len(plan_rows)
    shapes = {"logmel": (n, params.n_mels, params.frames), "mfcc": (n, params.n_mfcc, params.frames)}
    out.mkdir(parents=True, exist_ok=True)
    # the whole output's room, checked before any clip is computed (each array also reserves its own blocks)
    io.need_space(out, sum(io.npy_bytes(np.float32, shape) for shape in shapes.values()) + n)
    with (io.mapped(out / "logmel.npy", dtype=np.float32, shape=shapes["logmel"]) as logmel,
          io.mapped(out / "mfcc.npy", dtype=np.float32, shape=shapes["mfcc"]) as mfcc):
        valid, jobs, damaged, short = _compute(plan_rows, params=params, noise_amplitude=noise_amplitude,
                                               arrays=(logmel, mfcc), progress=progress, source=source,
                                               scheduler=scheduler)
        with io.writing(out / "valid.npy") as temporary:
            np.save(temporary, valid)
    return {"rows": n, "source_clips": jobs, "rows_without_audio": sum(not r.path for r in plan_rows),
            "damaged_clips": len(damaged), "damaged": sorted(damaged),
            "short_clips": len(short), "short": sorted(short),
            "rows_left_out": int((~valid).sum())}


def _compute(plan_rows: list[PlannedClip], *, params: AudioParams, noise_amplitude: float,
             arrays: tuple[np.ndarray, np.ndarray], progress: bool, source: str | None,
             scheduler: str) -> tuple[np.ndarray, int, list[str], list[str]]:
    """Fill the log-mel and MFCC `arrays` row by row; the rows kept, the number of source clips, the damaged
    clips left out and the short ones."""
    logmel, mfcc = arrays
    valid = np.ones(len(plan_rows), bool)
    groups = defaultdict(list)
    for row in plan_rows:
        if row.path:
            groups[row.path].append(row)
        else:  # a performance we have only the video of
            valid[row.index] = False
    jobs = [(path, rows, params, noise_amplitude) for path, rows in groups.items()]
    damaged, short = [], []
    workers = max(1, min(params.workers, os.cpu_count() or 1))
    # One BLAS thread per job, here as in a worker: the features do not depend on where a clip is computed, and
    # with several threads per worker the workers' threads spin against each other on 2 cores.
    with closing(executor.run_ordered(clip_features, jobs, workers=workers, threads=1, scheduler=scheduler,
                                      name=lambda job: f"featurize {job[0]}")) as results:
        for path, indices, mel_block, mfcc_block, (is_short, covered), error in tqdm(
                results, total=len(jobs), unit="clip", desc="featurize", disable=not progress):
            if error:
                if not params.skip_damaged:
                    raise audio.DamagedAudioError(f"{path}: {error}; {advice(path, source, 'audio')}", error)
                log.warning("skipping damaged clip: %s: %s", path, error)
                damaged.append(path)
                valid[indices] = False
                continue
            if is_short:
                log.warning("short clip: %s: %s", path, frontend.for_params(params).short_note(covered))
                short.append(path)
            logmel[indices] = mel_block
            mfcc[indices] = mfcc_block
    return valid, len(jobs), damaged, short
