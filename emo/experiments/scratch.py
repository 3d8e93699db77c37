"""Scratch copies of a project (a git repo of their own) for whole-pipeline runs beside the workspace: the
named variants (`emo variant`), benchmarks and end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from emo.core import git as git_cli
from emo.core.errors import EmoError
from emo.core.params import Params, ParamsError, from_dict
from emo.core.rules import yaml_value
from emo.core.text import echo
from emo.fetch import source as data_source

BIN = Path(sys.executable).parent
# `dvc exp run` commits; a machine with no git identity configured must still run it.
IDENTITY = {"GIT_AUTHOR_NAME": "emo", "GIT_AUTHOR_EMAIL": "emo@emo.invalid",
            "GIT_COMMITTER_NAME": "emo", "GIT_COMMITTER_EMAIL": "emo@emo.invalid"}


#: Committed results of other runs (emo variant, emo nested) that the report stages read: a copy keeps them.
REPORT_INPUTS = ("metrics/paper/", "metrics/emobox/")


def copy_project(source: Path, dest: Path) -> Path:
    """Copy a project's files (tracked and new, not ignored; no data, metrics or dvc.lock, but the variants'
    metrics, which the report stages read as inputs) into `dest`, committed in a fresh git repo."""
    listed = git_cli.run(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard").decode().split("\0")
    for name in filter(None, listed):
        path = source / name
        own_output = name.startswith(("data/", "metrics/")) and not name.startswith(REPORT_INPUTS)
        if path.is_file() and not own_output and name != "dvc.lock":
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "scratch copy")
    return dest


def git(cwd: Path, *args: str) -> None:
    """Run git in `cwd` with an identity; a GitError (emo.core.git) names the command and git's reason."""
    git_cli.run(cwd, *args, env=dict(os.environ, **IDENTITY))


def changed_params(root: Path, changes: dict) -> dict:
    """The project's params.yaml with `changes` merged in, validated: a bad change stops here, before any work."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    merge(params, json.loads(json.dumps(changes)))
    from_dict(Params, params)
    return params


def absolute_source(root: Path, params: dict) -> dict:
    """data.source as a scratch copy must see it: a relative folder, or the one 'auto' finds, resolved against the
    project (emo.fetch.source)."""
    data = params["data"]
    setting = data_source.absolute(data["source"], record=data.get("record", 1188976), root=root, environ=os.environ)
    return {} if setting == data["source"] else {"data": {"source": setting}}


def scratch_project(root: Path, dest: Path, changes: dict) -> Path:
    """A scratch copy of the project at `root` in `dest` (copied once: an existing copy is reused) whose
    params.yaml is the project's with `changes` (nested sections, as `sections` gives them) and with data.source
    resolved against `root`. The named variants (`emo variant`) and the nested candidates' features share it."""
    params = changed_params(root, changes)
    if not (dest / ".git").is_dir():
        copy_project(root, dest)
    overlay = json.loads(json.dumps(changes))
    merge(overlay, absolute_source(root, params))
    set_params(dest, **overlay)
    return dest


def set_params(project: Path, **sections: dict) -> None:
    """Overwrite keys of params.yaml, nested ones included, e.g. set_params(p, train={"ours": {"lr": 0.01}})."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    merge(params, sections)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def sections(pairs: list[str]) -> dict:
    """KEY=VALUE pairs (dotted keys, YAML values) as nested sections, e.g. train.seeds=[0] -> {train: {seeds: [0]}}."""
    nested: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        where = f"--set '{echo(pair)}'"
        if not sep or not all(key.split(".")):
            raise ParamsError(f"{where}: expected KEY=VALUE with a dotted key, e.g. train.seeds=[0]")
        *path, last = key.split(".")
        node = nested
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"{where}: another --set gives {echo(part)} a value, not keys")
        node[last] = yaml_value(value, where)
    return nested


def merge(target: dict, changes: dict) -> None:
    """Deep-update `target` with `changes`."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


class DvcError(EmoError):
    """A dvc command in a scratch project failed; the message holds its output."""


def dvc(project: Path, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """Run the venv's dvc in `project` with the venv first on PATH, as `make repro` does, and the copy's own
    `emo` package first on the import path (not the editable install's), so that later edits to the source
    project cannot reach a run in progress."""
    path = os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH", "")]))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=path, **IDENTITY)
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=project, env=env, capture_output=capture, text=True)
    if check and result.returncode:
        raise DvcError(f"dvc {' '.join(args)} in {project} failed ({result.returncode}):\n{result.stdout}\n"
                       f"{result.stderr}")
    return result
