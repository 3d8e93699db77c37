"""`pip install .` ships the whole package: a wheel built from the project holds every module and data file of emo/,
under the distribution name that is free on PyPI ("emo" there is an unrelated package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from project import REPO

NAME = "emo-ravdess"
PACKAGE_DATA = ("emo/corpora/emodb_samples.tsv", "emo/shipped/default.pt")  # read by fetch_emodb, emo predict
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE")


def package_files(root: Path) -> set[str]:
    """Every file of the package in the working tree (what an installed emo must hold), bytecode aside."""
    return {p.relative_to(root).as_posix() for p in (root / "emo").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from a copy of the project (the build's own folders stay out of the working tree)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in BUILD_INPUTS:
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "emo", src / "emo", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(out), str(src)], check=True, capture_output=True)
    built = list(out.glob("*.whl"))
    assert len(built) == 1, built
    with zipfile.ZipFile(built[0]) as opened:
        yield opened


def metadata(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_wheel_holds_every_module_and_data_file(wheel):
    expected = package_files(REPO)
    assert set(PACKAGE_DATA) <= expected, "the package data the test names is no longer in emo/"
    assert len([p for p in expected if p.endswith(".py")]) > 80  # the whole package (93 modules today), not a stub
    missing = sorted(expected - set(wheel.namelist()))
    assert not missing, f"pip install . leaves out {missing}: add them to [tool.setuptools.package-data]"


def test_wheel_is_named_for_pypi_and_gives_the_emo_command(wheel):
    meta = Parser().parsestr(metadata(wheel, "METADATA"))
    assert meta["Name"] == NAME
    assert Path(wheel.filename).name.startswith(NAME.replace("-", "_") + "-")
    assert "emo = emo.cli:main" in metadata(wheel, "entry_points.txt")
    assert "Requires-Dist: torch" in metadata(wheel, "METADATA")  # the dependencies come with it
    assert not [n for n in wheel.namelist() if n.split("/")[0] in ("tests", "stages", "bench")]
