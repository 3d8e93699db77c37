"""Named variants of the audio pipeline — the paper's recipe, the EmoBox folds — run whole in a scratch copy
of the project and kept as `metrics/<variant>/*.json` beside the default's, for the report and the gate.

A variant changes parameters only, so its numbers come from the same code as the default's; it runs apart
from the workspace so that the default's models, metrics and `dvc.lock` stay as they are.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import yaml

from emo.core import layout
from emo.core.errors import EmoError
from emo.core.io import write_json
from emo.core.params import Params, from_dict
from emo.experiments import scratch

EVERY_SPLIT = ["train", "val", "test"]  # k-fold: every actor trains in some fold, so every actor is augmented
VARIANTS = {
    # SPEC section 4's recipe on our split (Table 1): its model and its features, the fixed 2.5 s window at 44.1 kHz
    "paper": {"train": {"preset": "paper"}, "audio": {"front_end": "window", "sample_rate": 44100, "offset": 1.0,
                                                      "duration": 2.5, "n_fft": 2048, "hop_length": 512,
                                                      "n_mels": 128, "n_mfcc": 30}},
    "emobox": {"split": {"protocol": "emobox"}, "augment": {"splits": EVERY_SPLIT}},  # the EmoBox benchmark folds
}
AUDIO_MODELS = [layout.model_name(f, b) for f in layout.AUDIO_FEATURES for b in layout.BALANCES]


def variant_dir(root: Path, name: str) -> Path:
    """Where a variant's metrics live: metrics/<name>/."""
    return root / "metrics" / name


def overrides(name: str, extra: dict | None = None) -> dict:
    """The parameter changes of a named variant, plus `extra` ones (e.g. fewer seeds for a quick look)."""
    if name not in VARIANTS:
        raise EmoError(f"unknown variant {name!r}: expected one of {', '.join(VARIANTS)}")
    changes = json.loads(json.dumps(VARIANTS[name]))
    scratch.merge(changes, extra or {})
    return changes


def absolute_source(root: Path, params: dict) -> dict:
    """data.source as the scratch copy must see it: a relative folder is resolved against the project."""
    source = params["data"]["source"]
    if source == "zenodo" or "://" in source:
        return {}
    return {"data": {"source": str((root / source).resolve())}}


def run(root: Path, name: str, extra: dict | None = None, work: Path | None = None) -> list[Path]:
    """Run the audio models of variant `name` in a scratch copy of the project at `root`; write each model's
    metrics to metrics/<name>/ with the variant's parameters and the project's git revision."""
    changes = overrides(name, extra)
    params = yaml.safe_load((root / "params.yaml").read_text())
    scratch.merge(params, changes)
    from_dict(Params, params)  # a bad override stops here, before any work
    git_revision = revision(root)  # of the code the copy runs, before anything can move HEAD on
    with tempfile.TemporaryDirectory(dir=work) as folder:
        project = scratch.copy_project(root, Path(folder) / "project")
        scratch.set_params(project, **changes, **absolute_source(root, params))
        scratch.dvc(project, "repro", "evaluate", capture=False)
        out = variant_dir(root, name)
        provenance = {"variant": name, "overrides": changes, "git_revision": git_revision}
        written = []
        for model in AUDIO_MODELS:
            metrics = json.loads((project / "metrics" / f"{model}.json").read_text())
            write_json(out / f"{model}.json", {**provenance, **metrics})
            written.append(out / f"{model}.json")
    return written


def revision(root: Path) -> str:
    """The project's git revision, marked `+dirty` when the work tree has changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no")
                                                  else "")


def load(root: Path, name: str) -> dict[str, dict]:
    """A variant's metrics per audio model, for those it has."""
    folder = variant_dir(root, name)
    return {model: json.loads(path.read_text()) for model in AUDIO_MODELS
            if (path := folder / f"{model}.json").is_file()}
