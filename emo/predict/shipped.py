"""The model shipped inside the package (the `release` stage's file), and which model `emo predict` uses: a
project's own (`--project DIR`, `--model NAME`, or a models/ folder here) or the shipped one (`source`).

`about` is the model card's facts (MODEL_CARD.md) as the shipped file states them: `emo predict --about`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo.core.params import AudioParams, Params
from emo.core.rules import from_dict
from emo.learn.ensemble import FeatureEnsemble
from emo.predict.jobs import PredictError
from emo.predict.model import EnsembleModel, Model
from emo.predict.release import FORMAT, SHIPPED

#: The shipped file inside the installed package (emo/shipped/default.pt).
PACKAGED = Path(__file__).resolve().parents[1] / SHIPPED.relative_to("emo")
FIX = "reinstall emo (pip install --force-reinstall), or give --project DIR with your own trained models"


@dataclass
class Shipped:
    """The shipped model as `emo predict` runs it, its front end's params, its temperature, and the rest of the
    file (versions, scores, training data) for the card."""

    model: Model | EnsembleModel
    params: Params
    temperature: float
    info: dict

    @property
    def banner(self) -> str:
        """The one line `emo predict` writes on stderr when it uses the shipped model."""
        rav = self.info["scores"]["ravdess"]["ensemble"]
        return (f"using the shipped default model ({self.model.name}, emo {self.info['versions']['emo']}, trained on "
                f"RAVDESS acted English speech, test accuracy {rav['accuracy']:.0%}; `emo predict --about`); "
                "--project DIR for your own")


def source(*, project: str | None, models: list[str], here: Path = Path(".")) -> Path | None:
    """The project folder whose trained models predict, or None for the shipped model: --project DIR, else the
    current folder where --model names one of its models or it holds models/*.pt, else the shipped model."""
    if project is not None:
        return Path(project)
    if models or any((here / "models").glob("*.pt")):
        return here
    return None


def load(path: Path = PACKAGED) -> Shipped:
    """The shipped file, read weights-only (tensors and plain values: a crafted file runs no code)."""
    import torch

    if not path.is_file():
        raise PredictError(f"{path}: the shipped model is missing; {FIX}")
    try:
        info = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # garbage, truncated, or pickled objects refused by weights_only
        raise PredictError(f"{path}: not a readable shipped model ({type(err).__name__}); {FIX}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise PredictError(f"{path}: a shipped model of another version of emo; {FIX}")
    members = [Model(m["name"], m["checkpoint"], [m["feature"]],
                     [{k: v.numpy() if hasattr(v, "numpy") else np.asarray(v) for k, v in m["split"].items()}])
               for m in info["members"]]
    model = members[0] if len(members) == 1 else EnsembleModel(
        info["name"], members, FeatureEnsemble(info["name"], tuple((m["name"], m["weight"]) for m in info["members"])))
    params = Params(audio=from_dict(AudioParams, info["audio_params"], "audio"))
    return Shipped(model, params, float(info["temperature"]), info)


def _pct(entry: dict, key: str) -> str:
    """`65.0 % [57.8, 72.2]` (mean ± std where the entry has one)."""
    text = f"{entry[key]:.1%}".replace("%", " %")
    if f"{key}_std" in entry:
        text += f" ± {entry[f'{key}_std']:.1%}".replace("%", " %")
    if f"{key}_ci95" in entry:
        low, high = entry[f"{key}_ci95"]
        text += f" [{low:.1%}, {high:.1%}]".replace("%", "")
    return text


def score_lines(scores: dict) -> list[str]:
    """The card's scores, one line each: accuracy and UAR with 95 % intervals."""
    rav, emodb, peer = scores["ravdess"], scores.get("emodb"), scores["peer"]
    rows = [(f"RAVDESS test actors {rav.get('test_actors')}, {rav.get('n_test')} clips, 8 classes, "
             f"one model (mean ± std over seeds {scores['seeds']})", rav),
            ("  seed ensemble (what emo predict runs)", rav.get("ensemble"))]
    if emodb:  # a release from a project that did not score EmoDB states no EmoDB line
        rows += [(f"EmoDB (German), {emodb.get('n')} clips, 6 shared classes, one model", emodb),
                 ("  seed ensemble", emodb.get("ensemble"))]
    lines = []
    for label, entry in (row for row in rows if row[1]):  # a one-seed run has no ensemble line
        lines.append(f"{label}: accuracy {_pct(entry, 'accuracy')}, UAR {_pct(entry, 'uar')}")
    for corpus, entry in ((c, peer[c]) for c in ("ravdess", "emodb") if c in peer):
        lines.append(f"peer {peer['model']} (eGeMAPS + SVM) on {corpus}: accuracy {_pct(entry, 'accuracy')}, "
                     f"UAR {_pct(entry, 'uar')}")
    return lines


def about(shipped: Shipped) -> str:
    """The model card's facts from the shipped file (`emo predict --about`)."""
    info, training = shipped.info, shipped.info["training"]
    return "\n".join([
        f"emo shipped default model: {info['name']} ({_members(info['members'])}), calibration temperature "
        f"{info['temperature']:.3f}",
        f"trained on: {training['corpus']}; actors {_span(training['train_actors'])} train, "
        f"{_span(training['val_actors'])} validation, {_span(training['test_actors'])} test",
        "scores (95 % intervals in brackets):", *("  " + line for line in score_lines(info["scores"])),
        "known failure modes: telephone band (8 kHz, GSM) audio, sung speech, other languages (see EmoDB above), "
        f"very short clips (the model reads {info['audio_params']['duration']} s), spontaneous (not acted) emotion",
        "intended use: research and teaching on acted speech emotion; out of scope: any decision about a person "
        "(hiring, health, policing, surveillance)",
        f"licence: trained on RAVDESS ({training['licence']}), so these weights are for non-commercial use only "
        "and shared alike",
        f"versions: emo {info['versions']['emo']}, torch {info['versions']['torch']}, git {info['revision']}",
        "card: MODEL_CARD.md"]) + "\n"


def _members(members: list[dict]) -> str:
    """`seed ensemble of 3 runs` of one model; of an ensemble, its members with their weights and runs."""
    runs = len(members[0]["checkpoint"]["runs"])
    if len(members) == 1:
        return f"seed ensemble of {runs} runs"
    product = " x ".join(m["name"] + ("" if m["weight"] == 1 else f"^{m['weight']:g}") for m in members)
    return f"{product}, run by run; seed ensemble of {runs} fused runs"


def _span(actors: list[int]) -> str:
    """`1–20` for a run of actors, else `21, 23`."""
    if len(actors) > 2 and actors == list(range(actors[0], actors[-1] + 1)):
        return f"{actors[0]}–{actors[-1]}"
    return ", ".join(str(a) for a in actors)
