"""Git, run in a project's folder: the one way emo calls it (the report's and the variants' provenance, the metric
gate's baselines, scratch copies), with one error when git cannot be run or a command fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

from emo.core.errors import EmoError


class GitError(EmoError):
    """A git command that failed, or git that cannot be run at all (`missing`); `reason` is git's own one-line
    reason (its stderr), or the operating system's when git cannot be run."""

    def __init__(self, message: str, reason: str = "", missing: bool = False):
        super().__init__(message)
        self.reason, self.missing = reason, missing


def run(folder: str | Path | None, *args: str, env: dict[str, str] | None = None) -> bytes:
    """The output of `git ARGS` run in `folder` (None: the current one), or a GitError saying why not."""
    command = " ".join(["git", *args])
    try:
        result = subprocess.run(["git", *args], cwd=folder, capture_output=True, env=env)
    except OSError as err:
        raise GitError(f"`{command}` cannot be run here ({err.strerror}); install git", err.strerror or str(err),
                       missing=True) from None
    if result.returncode:
        reason = " ".join(result.stderr.decode(errors="replace").split())  # one line; empty for rev-parse --quiet
        where = f" in {folder}" if folder is not None else ""
        raise GitError(f"`{command}`{where} failed ({result.returncode})" + (f": {reason}" if reason else ""), reason)
    return result.stdout


def text(folder: str | Path | None, *args: str) -> str:
    """The output of `git ARGS` in `folder` as text, without surrounding whitespace."""
    return run(folder, *args).decode().strip()


def head(folder: str | Path) -> str:
    """The full commit checked out in `folder`."""
    return text(folder, "rev-parse", "HEAD")


def changes(folder: str | Path, *pathspec: str, untracked: bool = True) -> list[str]:
    """The paths `git status` lists as changed in `folder` (limited to `pathspec`, e.g. "--", ".")."""
    listed = run(folder, "status", "--porcelain", *([] if untracked else ["--untracked-files=no"]), *pathspec)
    return [line[3:] for line in listed.decode().splitlines()]


def dirty(folder: str | Path) -> bool:
    """Whether tracked files of `folder`'s work tree differ from its commit (new, untracked files do not count)."""
    return bool(changes(folder, untracked=False))


def revision(folder: str | Path) -> str:
    """The short commit of `folder`, marked `+dirty` when tracked files have changed: a result's provenance."""
    return text(folder, "rev-parse", "--short", "HEAD") + ("+dirty" if dirty(folder) else "")


def state(folder: str | Path, *, exclude: str = "") -> str:
    """The commit of `folder` as markdown, and its uncommitted changes (those under `exclude` left out: a report
    rewrites its own files), or why that is unknown."""
    try:
        commit = head(folder)
        changed = changes(folder, "--", ".", *([f":(exclude){exclude}"] if exclude else []))
    except GitError as err:
        return "unknown (git is not installed)" if err.missing else "unknown (not a git repository, or no commit yet)"
    if not changed:
        return f"`{commit}` (clean working tree)"
    shown = ", ".join(f"`{c}`" for c in changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f"`{commit}` plus uncommitted changes: {shown}"
