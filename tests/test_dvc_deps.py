"""dvc.yaml's code deps cover what each stage runs: every `emo` module its script imports, directly or not, at
module level or inside a function, so that editing any of them makes `dvc status` flag the stage."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from import_graph import closure, module_path
from project import REPO, copy_project, dvc, git, set_params

OLD = "1a7f386"  # the commit whose dvc.yaml listed only the modules each script imports directly
SCRIPT = re.compile(r"\bpython\s+(stages/\S+\.py)\b")


def script(stage: dict) -> str:
    """The stages/*.py a stage's command runs (the same for every item of a matrix)."""
    found = SCRIPT.search(stage["cmd"])
    assert found, f"no `python stages/X.py` in {stage['cmd']!r}"
    return found[1]


def covers(dep: str, file: str) -> bool:
    """Whether a dep (a file or a folder) covers a file, both relative to the repository."""
    return file == dep.rstrip("/") or file.startswith(dep.rstrip("/") + "/")


def code_deps(stage: dict) -> set[str]:
    """A stage's deps that are source code: its script and the `emo` package's files and folders."""
    return {d for d in stage.get("deps", []) if d.startswith(("emo/", "stages/")) or d == "emo"}


def needed(script_path: str) -> set[str]:
    """The fewest code deps covering a script and its closure: a folder per subpackage, top-level files alone."""
    deps = {script_path}
    for file in closure(REPO / script_path).values():
        parts = file.relative_to(REPO).parts
        deps.add("/".join(parts[:2]) if len(parts) > 2 else "/".join(parts))
    return deps


def uncovered(pipeline: dict) -> list[tuple[str, str]]:
    """(stage, file) for every module a stage's script imports (transitively) and its deps do not cover, the
    script itself included."""
    missing = []
    for name, stage in pipeline["stages"].items():
        deps = stage.get("deps", [])
        path = script(stage)
        files = [path] + sorted(f.relative_to(REPO).as_posix() for f in closure(REPO / path).values())
        missing += [(name, f) for f in files if not any(covers(d, f) for d in deps)]
    return missing


def superfluous(pipeline: dict) -> list[tuple[str, str]]:
    """(stage, dep) for every code dep that covers neither the script nor a module of its closure."""
    extra = []
    for name, stage in pipeline["stages"].items():
        path = script(stage)
        files = [path] + [f.relative_to(REPO).as_posix() for f in closure(REPO / path).values()]
        extra += [(name, d) for d in sorted(code_deps(stage)) if not any(covers(d, f) for f in files)]
    return extra


def current() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_closure_follows_indirect_and_function_level_imports() -> None:
    report = closure(REPO / "stages/report.py")
    assert {"emo", "emo.reporting", "emo.reporting.report", "emo.reporting.crossreport", "emo.corpora",
            "emo.experiments.variants", "emo.core.errors"} <= set(report)
    # emo.learn.evaluate reads the datasets only inside a function
    assert "emo.data.datasets" in closure(REPO / "emo/learn/evaluate.py")


def test_every_stage_runs_a_script_it_depends_on() -> None:
    for name, stage in current()["stages"].items():
        assert script(stage) in stage["deps"], name


def test_deps_cover_every_imported_module() -> None:
    assert uncovered(current()) == [], "add these modules (or their subpackage folder) to the stages' deps"


def test_code_deps_are_the_fewest_that_cover() -> None:
    assert superfluous(current()) == [], "these code deps cover nothing the stage imports"
    for name, stage in current()["stages"].items():
        assert code_deps(stage) == needed(script(stage)), name


def test_the_old_deps_missed_indirect_imports() -> None:
    done = subprocess.run(["git", "show", f"{OLD}:dvc.yaml"], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"commit {OLD} is not in this clone: {done.stderr.strip()}")
    missing = set(uncovered(yaml.safe_load(done.stdout)))
    assert {("train", "emo/data/split.py"), ("evaluate", "emo/core/errors.py"),
            ("report_audio", "emo/experiments/variants.py")} <= missing


def placeholders(project: Path) -> None:
    """Stand-ins for every output and data dep `dvc status` finds missing in a fresh copy, so that `dvc commit`
    can record a lock: a file where the path has a suffix (metrics/x.json, models/x.pt), else a folder."""
    for changes in json.loads(dvc(project, "status", "--json").stdout or "{}").values():
        for change in changes:
            for path in [*change.get("changed deps", {}), *change.get("changed outs", {})] if isinstance(
                    change, dict) else []:
                target = project / path
                if target.exists():
                    continue
                if target.suffix:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("{}\n")
                else:
                    target.mkdir(parents=True)
                    (target / "placeholder").write_text("0\n")


def flagged(project: Path) -> set[str]:
    """The dvc.yaml stages (matrix items merged: faces@video is faces) that `dvc status` reports with a changed
    `emo` dep."""
    status = json.loads(dvc(project, "status", "--json").stdout or "{}")
    return {stage.partition("@")[0] for stage, changes in status.items() for change in changes
            if isinstance(change, dict) and any(d.startswith("emo/") for d in change.get("changed deps", {}))}


@pytest.mark.slow
def test_dvc_status_flags_the_stages_that_import_an_edited_module(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    set_params(project, data={"parts": ["audio_speech", "video_speech"]}, video={"run": ["video"]})  # every stage
    placeholders(project)
    dvc(project, "commit", "--force", "--quiet")
    assert json.loads(dvc(project, "status", "--json").stdout or "{}") == {}, "a stage is still dirty"
    stages = current()["stages"]
    for module in ("emo.data.split", "emo.core.errors"):
        file = module_path(module).relative_to(REPO)
        importers = {name for name, stage in stages.items() if module in closure(REPO / script(stage))}
        declared = {name for name, stage in stages.items() if any(covers(d, file.as_posix()) for d in stage["deps"])}
        source = project / file
        original = source.read_text()
        source.write_text(original + "# edited\n")
        # exactly the stages whose deps cover the file: at least those importing it, and those importing another
        # module of its folder (a folder dep is the unit)
        assert importers <= flagged(project) == declared, module
        source.write_text(original)


def test_report_stages_depend_on_the_variants_metrics() -> None:
    from emo.experiments import variants  # the report reads metrics/<variant>/ (emo.reporting.report.build_report)

    folders = {variants.variant_dir(Path(), name).as_posix() for name in variants.VARIANTS}
    for name in ("report", "report_audio"):
        assert folders <= set(current()["stages"][name]["deps"]), name


def test_every_stage_depends_on_the_params_check() -> None:
    """The `params` stage validates all of params.yaml (stages/params.py); every other stage depends on its output, so
    that `dvc repro STAGE` or `dvc exp run -S key=value STAGE` checks every key whatever STAGE reads."""
    from emo.core.params import CHECKED

    stages = current()["stages"]
    check = stages["params"]
    assert check["cmd"] == "python stages/params.py" and check["outs"] == [CHECKED.as_posix()]
    assert check["params"] == [{"params.yaml": None}]  # no keys: the whole file, every section
    assert [name for name, stage in stages.items() if name != "params" and CHECKED.as_posix() not in stage["deps"]] \
        == []


@pytest.mark.slow
def test_exp_run_stops_on_a_bad_value_of_a_key_the_stage_does_not_read(tmp_path: Path) -> None:
    """`dvc exp run -S train.seeds=[0,0] featurize` stored an experiment with the bad value and exited 0: featurize
    was up to date and no stage that reads train.seeds ran. Now the params stage runs first and stops it. Every
    other stage is locked on stand-ins (no real stage runs: cheap), so only the params stage can run."""
    project = copy_project(tmp_path / "project")
    dvc(project, "repro", "params")  # its real output, so that re-running it changes nothing downstream
    placeholders(project)
    dvc(project, "commit", "--force", "--quiet")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "every stage locked")
    assert json.loads(dvc(project, "status", "--json").stdout or "{}") == {}

    def experiments() -> list[str]:
        return dvc(project, "exp", "list", "--name-only").stdout.split()

    for change, message in (("train.seeds=[0,0]", "train.seeds: [0, 0] repeats [0]; expected each value once"),
                            ("video.frames=0", "video.frames: 0 is out of range; expected an integer in 1..1000"),
                            ("video.crop_size=1", "video.crop_size: 1 is out of range; expected an integer in 8..")):
        bad = dvc(project, "exp", "run", "-S", change, "featurize", check=False)
        assert bad.returncode != 0 and f"error: {message}" in bad.stderr, change
        assert re.findall(r"Running stage '([^']+)'", bad.stdout) == ["params"] and "Traceback" not in bad.stderr
        git(project, "checkout", "--", "params.yaml")  # a failed `dvc exp run` leaves its params.yaml behind
        assert experiments() == [], change
    good = dvc(project, "exp", "run", "-S", "train.seeds=[0,1]", "featurize")
    assert re.findall(r"Running stage '([^']+)'", good.stdout) == ["params"]  # featurize stays up to date
    assert len(experiments()) == 1
