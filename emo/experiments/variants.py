"""Named variants of the audio pipeline — the paper's recipe, the EmoBox folds — run whole in a scratch copy
of the project and kept as `metrics/<variant>/*.json` beside the default's, for the report and the gate.

A variant changes parameters only, so its numbers come from the same code as the default's; it runs apart
from the workspace so that the default's models, metrics and `dvc.lock` stay as they are. Its changes are a
params overlay in the project's `variants/<name>.yaml`, merged key by key over `params.yaml` (which holds every
default); `variants/nested.yaml` holds the candidates of `emo nested` (emo.experiments.nested).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from emo.core import git, layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.io import write_json
from emo.core.rules import read_yaml
from emo.experiments import scratch

FOLDER = Path("variants")  # in the project, beside params.yaml: the overlays ship with it
#: The named variants, each variants/<name>.yaml: paper (SPEC section 4's recipe on our split), emobox (the EmoBox
#: benchmark folds). The report and the gate know them by these names.
VARIANTS = ("paper", "emobox")
AUDIO_MODELS = [layout.model_name(f, b) for f in layout.AUDIO_FEATURES for b in layout.BALANCES]
#: What a variant's run keeps: the trained audio models and the default ensemble of two of them.
KEPT = [*AUDIO_MODELS, layout.ENSEMBLE_MODEL]


def variant_dir(root: Path, name: str) -> Path:
    """Where a variant's metrics live: metrics/<name>/."""
    return root / "metrics" / name


def overlay(root: Path, name: str) -> dict:
    """The mapping in the project's variants/<name>.yaml."""
    path = root / FOLDER / f"{name}.yaml"
    if not path.is_file():
        raise EmoError(f"{path}: missing; the variants' parameter changes ship with the project in {FOLDER}/ beside "
                       "params.yaml: restore it (git checkout -- variants)")
    found = read_yaml(path, aliases=False)  # as params.yaml is read; no anchors: changes are copied through JSON
    if not isinstance(found, dict):
        raise EmoError(f"{path}: expected a mapping of params.yaml sections, got {type(found).__name__}")
    return found


def overrides(name: str, extra: dict | None = None, root: Path = Path(".")) -> dict:
    """The parameter changes of a named variant (the project's variants/<name>.yaml), plus `extra` ones (e.g.
    fewer seeds for a quick look)."""
    if name not in VARIANTS:
        raise EmoError(f"unknown variant {name!r}: expected one of {', '.join(VARIANTS)}")
    changes = overlay(root, name)
    scratch.merge(changes, json.loads(json.dumps(extra or {})))
    return changes


def run(root: Path, name: str, extra: dict | None = None, work: Path | None = None) -> list[Path]:
    """Run the audio models of variant `name`, and the default ensemble of two of them, in a scratch copy of the
    project at `root`; write each model's metrics to metrics/<name>/ with the variant's parameters and the
    project's git revision."""
    changes = overrides(name, extra, root)
    scratch.changed_params(root, changes)  # a bad override stops here, before any work
    git_revision = git.revision(root)  # of the code the copy runs, before anything can move HEAD on
    with tempfile.TemporaryDirectory(dir=work) as folder:
        project = scratch.scratch_project(root, Path(folder) / "project", changes)
        scratch.dvc(project, "repro", "evaluate", "ensemble", capture=False)
        out = variant_dir(root, name)
        provenance = {"variant": name, "overrides": changes, "git_revision": git_revision}
        written = []
        for model in KEPT:
            metrics = metrics_detail.read(project / "metrics" / f"{model}.json")  # whole: kept in one file here
            write_json(out / f"{model}.json", {**provenance, **metrics})
            written.append(out / f"{model}.json")
    return written


def load(root: Path, name: str) -> dict[str, dict]:
    """A variant's metrics per audio model (and the ensemble), for those it has."""
    folder = variant_dir(root, name)
    return {model: json.loads(path.read_text()) for model in KEPT
            if (path := folder / f"{model}.json").is_file()}
