"""The `release` stage: the default audio model, with everything `emo predict` needs to run it anywhere, in one
file shipped inside the package (`SHIPPED`: package data, loaded weights-only by `emo.predict.shipped`).

The file holds each member model's checkpoint (the seed runs), feature, weight and training actors'
normalisation statistics (its split file) — the default is an ensemble of two (emo.learn.ensemble), any trained
audio model one — the front end's params, the calibration temperature, the emo and torch versions, the git revision,
and the scores the card states (`scores`: the model's in-domain and EmoDB metrics, the eGeMAPS peer's beside),
which metrics/release.json repeats. Tensors and plain values only, no timestamp: the same inputs give the same
bytes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from emo import __version__
from emo.core import git, layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.params import Params
from emo.learn import ensemble
from emo.learn.calibration import TEMPERATURES, load_temperatures
from emo.learn.checkpoints import load_checkpoint, save

#: The shipped file, relative to the project root (the stage's output) and inside the installed package.
SHIPPED = Path("emo/shipped/default.pt")
METRICS = Path("metrics/release.json")
MODEL = layout.ENSEMBLE_MODEL  # emo.predict.model.DEFAULT_MODELS["audio"]; the test checks they agree
PEER = "egemaps_svm"
#: What metrics/release.json holds (`dvc metrics show`): the temperature and the shipped model's accuracy and UAR with
#: their intervals, alone and as the seed ensemble, on RAVDESS and EmoDB; spreads, counts, the peer's scores, the
#: training data, versions and revision go to metrics/release_detail.json (emo.core.metrics_detail).
HEADLINE = ("temperature", *(f"{corpus}.{run}{key}" for corpus in ("ravdess", "emodb") for run in ("", "ensemble.")
                             for key in ("accuracy", "uar", "accuracy_ci95", "uar_ci95")))
FORMAT = 2  # the shipped file's layout (2: members); emo.predict.shipped refuses another
#: params.yaml's audio keys that change how a run goes, not what it computes: not shipped.
RUN_ONLY = ("workers", "skip_damaged")
REPRO = "run `dvc repro release` (after `make repro`)"
#: The training data, as the card states it; the actors of each part are read from the model's split file.
TRAINING = {"corpus": "RAVDESS speech (audio_speech), acted North-American English", "licence": "CC BY-NC-SA 4.0"}


class ReleaseError(EmoError):
    """An input of the release stage is missing or not what the stage expects."""


def _json(path: Path) -> dict:
    """A metrics file merged with its detail file (emo.core.metrics_detail): the spreads and seeds are there."""
    found = metrics_detail.read(path)
    if found is None:
        raise ReleaseError(f"{path}: missing; {REPRO}")
    return found


def _pick(entry: dict, keys: tuple[str, ...]) -> dict:
    return {k: entry[k] for k in keys if k in entry}


SCORE_KEYS = ("n", "n_test", "classes", "accuracy", "accuracy_std", "accuracy_ci95", "uar", "uar_std", "uar_ci95",
              "macro_f1", "macro_f1_std")


def _with_ensemble(entry: dict, keys: tuple[str, ...]) -> dict:
    """An entry's scores and its seed ensemble's (a one-seed run has none)."""
    return {**_pick(entry, keys), **({"ensemble": _pick(entry["ensemble"], SCORE_KEYS)} if "ensemble" in entry else {})}


def scores(root: Path, *, name: str = MODEL) -> dict:
    """The scores the card states: the model's on the RAVDESS test actors (single-model mean ± std over the seeds
    with 95 % intervals, and the seed ensemble's), on EmoDB's six shared classes, and the peer's on both where
    metrics/peer.json exists."""
    own = _json(root / layout.metrics_file(name))
    cross = _json(root / "metrics" / "crosscorpus_detail.json")  # every score of each model on each corpus
    # The peer is optional (openSMILE's research licence keeps it out of the pipeline's run): without its metrics the
    # card says nothing of it rather than the release failing.
    peer_file = root / "metrics" / "peer.json"
    peer = json.loads(peer_file.read_text()) if peer_file.is_file() else {PEER: {}}
    if PEER not in peer:
        raise ReleaseError(f"{root / 'metrics/peer.json'}: no {PEER} scores; run `dvc repro peer`")
    # EmoDB's scores where corpora.test scored it (our run does; a project without EmoDB ships none).
    emodb = cross.get(name, {}).get("emodb")
    return {"model": name, "seeds": list(own["seeds"]),
            "ravdess": _with_ensemble(own, SCORE_KEYS + ("test_actors",)),
            **({"emodb": _with_ensemble(emodb, SCORE_KEYS)} if emodb else {}),
            "peer": {"model": PEER, **{corpus: _pick(peer[PEER][corpus], SCORE_KEYS + ("test_actors",))
                                       for corpus in ("ravdess", "emodb") if corpus in peer[PEER]}}}


def _tensors(stored: dict[str, np.ndarray]) -> dict:
    """A split file's arrays as tensors (0-d strings and numbers as plain values): weights-only loadable."""
    out = {}
    for key, value in stored.items():
        if value.dtype.kind in "US":
            out[key] = str(value)
        elif value.ndim == 0:
            out[key] = value.item()
        else:
            out[key] = torch.from_numpy(np.ascontiguousarray(value))
    return out


def _revision(root: Path) -> str:
    """The short commit, `+dirty` when tracked files differ; this stage's own outputs do not count (`dvc repro -f`
    deletes them before the run, and the run rewrites them)."""
    try:
        commit = git.text(root, "rev-parse", "--short", "HEAD")
        own = (SHIPPED, METRICS, metrics_detail.detail_path(METRICS))
        changed = git.changes(root, "--", ".", *(f":(exclude){path}" for path in own), untracked=False)
    except EmoError:  # not a git checkout (a tarball): say so rather than fail the release
        return "unknown"
    return commit + ("+dirty" if changed else "")


def _member(root: Path, name: str, weight: float) -> tuple[dict, np.ndarray, dict]:
    """One member of the shipped model: its checkpoint, feature, weight and split file (as tensors), with the
    split's actors and row indices (the training data the card states)."""
    saved = load_checkpoint(root / "models" / f"{name}.pt", REPRO)
    if saved.get("fusion") or saved["model"] not in layout.AUDIO_FEATURES:
        raise ReleaseError(f"{root / 'models' / f'{name}.pt'}: not an audio model; release an audio_* model")
    split_path = root / layout.split_file(saved["model"], saved["balance"])
    if not split_path.is_file():
        raise ReleaseError(f"{split_path}: missing (it holds {name}'s normalisation statistics); {REPRO}")
    with np.load(split_path) as stored:
        member = {"name": name, "weight": weight, "checkpoint": saved, "feature": saved["model"],
                  "split": _tensors(dict(stored))}
        return member, stored["actors"], {part: stored[f"{part}_idx"] for part in ("train", "val", "test")}


def build(root: Path, params: Params, *, name: str = MODEL) -> dict:
    """The shipped file's contents from the project at `root`: the members' checkpoints and split files (the
    default ensemble's two, weighted as params.yaml's ensemble section says, or models/<name>.pt alone), the
    temperature, the front end's params, versions and scores."""
    chosen = (ensemble.default(params.ensemble.mfcc_weight).members if name == layout.ENSEMBLE_MODEL
              else ((name, 1.0),))
    members, actors = [], set()
    for model, weight in chosen:
        member, stored_actors, stored_idx = _member(root, model, weight)
        members.append(member)
        actors.add(tuple(tuple(sorted({int(a) for a in stored_actors[stored_idx[part]]}))
                         for part in ("train", "val", "test")))
    if len(actors) > 1:
        raise ReleaseError(f"{name}: its members were trained on different actors; {REPRO}")
    temperatures = load_temperatures(root / TEMPERATURES)
    if name not in temperatures:
        raise ReleaseError(f"{root / TEMPERATURES}: no temperature for {name}; run `dvc repro calibrate`")
    training = {**TRAINING, **{f"{part}_actors": list(found)
                               for part, found in zip(("train", "val", "test"), actors.pop(), strict=True)}}
    return {"format": FORMAT, "name": name, "members": members,
            "audio_params": {k: v for k, v in dataclasses.asdict(params.audio).items() if k not in RUN_ONLY},
            "temperature": temperatures[name],
            "training": training, "scores": scores(root, name=name),
            "versions": {"emo": __version__, "torch": torch.__version__.split("+")[0]},
            "revision": _revision(root)}


def metrics(release: dict) -> dict:
    """metrics/release.json: the scores the shipped file holds, with its versions and revision."""
    members = [{"model": m["name"], "weight": m["weight"]} for m in release["members"]]
    return {"model": release["name"], "members": members,
            "device": release["members"][0]["checkpoint"].get("device", "cpu"),
            "temperature": release["temperature"], **release["scores"],
            "training": release["training"], "versions": release["versions"], "revision": release["revision"]}


def write(root: Path, release: dict) -> tuple[Path, Path]:
    """The shipped file and metrics/release.json under `root`."""
    (root / SHIPPED).parent.mkdir(parents=True, exist_ok=True)
    save(release, root / SHIPPED)
    metrics_detail.write(root / METRICS, metrics(release), HEADLINE)
    return root / SHIPPED, root / METRICS
