"""`dvc plots show` renders offline (issue 22, item 7): the project's HTML template (.dvc/config `[plots]
html_template`) carries vega, vega-lite and vega-embed inline, where DVC's default page loads them from a CDN.

A minimal DVC project with this repository's .dvc/config, its template, its learning-curve plot definition (dvc.yaml's
top-level `plots:`) and one committed learning curve runs `dvc plots show`; headless Chromium, with every host
unreachable, opens the page and must show the curve drawn. The same check on DVC's default page must fail: that is the
proof that the network is really cut and that the template is what makes the difference.

Chromium (Debian's `chromium` package; .ci/run installs it) is required under CI or EMO_REQUIRE_CHROMIUM=1: the test
fails there without it, and elsewhere is skipped saying so. EMO_CHROMIUM names another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from configobj import ConfigObj  # DVC's own config reader
from PIL import Image

from project import BIN, REPO

DVC_CONFIG = REPO / ".dvc" / "config"
TEMPLATE_DIR = REPO / ".dvc" / "plots" / "offline"
# DVC's colour for the workspace revision (dvc_render): the learning curves are drawn in it.
WORKSPACE_RGB = (0x94, 0x5D, 0xD6)
# No host answers, loopback included: names resolve to nothing and every request goes to a dead proxy.
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                 "--proxy-bypass-list=<-loopback>")


def chromium_binary() -> str:
    """The headless browser, or a failure where it is required (CI) and a skip elsewhere."""
    for name in filter(None, [os.environ.get("EMO_CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                              "google-chrome-stable"]):
        found = shutil.which(name)
        if found:
            return found
    message = "needs Chromium (apt-get install chromium) to check that `dvc plots show` renders offline"
    if os.environ.get("CI") or os.environ.get("EMO_REQUIRE_CHROMIUM"):
        pytest.fail(f"{message}: required under CI / EMO_REQUIRE_CHROMIUM; .ci/run installs it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_binary()


def learning_curve_plots() -> list:
    """dvc.yaml's top-level plot definitions of the learning curves (plots/history)."""
    entries = yaml.safe_load((REPO / "dvc.yaml").read_text()).get("plots") or []
    curves = [entry for entry in entries if isinstance(entry, dict) and any("history" in key for key in entry)]
    assert curves, "dvc.yaml declares no top-level plot of the learning curves (plots/history)"
    return curves


def make_project(root: Path, *, offline_template: bool) -> Path:
    """A DVC project (no git) with the learning-curve plot of this repository and one of its committed curves;
    with this repository's .dvc/config and template, or without the `[plots]` section (DVC's default page)."""
    root.mkdir()
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=root, check=True)
    config = ConfigObj(str(DVC_CONFIG))
    if not offline_template:
        config.pop("plots", None)
    elif (REPO / ".dvc" / "plots").is_dir():  # where .dvc/config's html_template points, relative to .dvc/
        shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    config.filename = str(root / ".dvc" / "config")
    config.write()
    curve = sorted((REPO / "plots" / "history").glob("*.csv"))[0]
    (root / "plots" / "history").mkdir(parents=True)
    shutil.copy(curve, root / "plots" / "history" / curve.name)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"plots": learning_curve_plots()}, sort_keys=False))
    return root


def plots_show(project: Path) -> Path:
    """Plain `dvc plots show`, as a user runs it: the page it writes."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    result = subprocess.run([str(BIN / "dvc"), "plots", "show"], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    page = project / "dvc_plots" / "index.html"
    assert page.is_file(), result.stdout + result.stderr
    return page


def open_offline(chromium: str, page: Path, profile: Path) -> tuple[str, str, Image.Image]:
    """The rendered DOM, the page's console messages and a screenshot, from headless Chromium with no network."""
    base = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", *OFFLINE_FLAGS, "--virtual-time-budget=10000", "--window-size=1000,800"]
    url = page.resolve().as_uri()
    dom = subprocess.run([*base, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-3000:]
    console = "\n".join(line for line in dom.stderr.splitlines() if ":CONSOLE" in line)
    shot = page.parent / "screenshot.png"
    taken = subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-3000:]
    with Image.open(shot) as image:
        return dom.stdout, console, image.convert("RGB")


def curve_pixels(image: Image.Image) -> int:
    """Pixels of the workspace colour (anti-aliased lines included): the drawn curves."""
    pixels = np.asarray(image, dtype=np.int16)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    near = (np.abs(pixels - np.array(WORKSPACE_RGB, dtype=np.int16)) < 40).all(axis=-1)
    return int((near & (b > r) & (r > g)).sum())


def rendered(dom: str, console: str, image: Image.Image) -> list[str]:
    """What is missing for the learning curve to count as drawn; empty when it is."""
    missing = []
    if not re.search(r'<div id="plots_history_[^"]*" class="vega-embed', dom):
        missing.append("vega-embed did not mount the plot")
    if not re.search(r'<(canvas|svg)[^>]*class="marks"', dom):
        missing.append("no vega marks (canvas/svg) in the page")
    if "Uncaught" in console or "Failed to load" in console:
        missing.append(f"page errors: {console}")
    if curve_pixels(image) < 200:
        missing.append(f"no curve drawn ({curve_pixels(image)} pixels of the workspace colour)")
    return missing


def test_the_project_default_template_is_the_offline_page():
    # relative to .dvc/, as DVC reads it, so that plain `dvc plots show` (and the VS Code extension) uses it
    assert ConfigObj(str(DVC_CONFIG))["plots"]["html_template"] == "plots/offline/page.html"
    page = (TEMPLATE_DIR / "page.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN <script> tags go to {scripts}: none here
    assert not re.search(r"<script[^>]+src=", page)
    versions = re.search(r"VEGA=(\S+) VEGA_LITE=(\S+) VEGA_EMBED=(\S+)", (TEMPLATE_DIR / "build.sh").read_text())
    licence = (TEMPLATE_DIR / "LICENSE").read_text()
    for package, version in zip(("vega", "vega-lite", "vega-embed"), versions.groups(), strict=True):
        assert f"{package} {version}" in page and f"{package}@{version}" in licence
    assert "BSD-3-Clause" in licence and "Redistribution and use in source and binary forms" in licence


def test_a_learning_curve_renders_with_no_network(tmp_path, chromium):
    page = plots_show(make_project(tmp_path / "project", offline_template=True))
    dom, console, image = open_offline(chromium, page, tmp_path / "profile")
    missing = rendered(dom, console, image)
    assert not missing, f"the learning curve did not render offline from {page}: " + "; ".join(missing)


def test_dvc_default_page_renders_nothing_with_no_network(tmp_path, chromium):
    """The control: DVC's own page (CDN scripts) shows no plot offline, so the network is really cut."""
    page = plots_show(make_project(tmp_path / "project", offline_template=False))
    assert "cdn.jsdelivr.net/npm/vega" in page.read_text()
    dom, console, image = open_offline(chromium, page, tmp_path / "profile")
    missing = rendered(dom, console, image)
    assert "vega-embed did not mount the plot" in missing and any("no curve drawn" in m for m in missing)
