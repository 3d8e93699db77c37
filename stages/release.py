"""DVC stage `release`: the default audio model with everything `emo predict` needs, in one file shipped inside
the package (emo/shipped/default.pt), and the scores it states (metrics/release.json)."""

from pathlib import Path

from emo.core import params
from emo.core.errors import reported
from emo.core.text import printable
from emo.predict import release

with reported():
    checked = params.load()  # a bad params.yaml stops every stage before any work
    shipped, metrics = release.write(Path.cwd(), release.build(Path.cwd(), checked))
print(f"release: wrote {printable(str(shipped.relative_to(Path.cwd())))} ({shipped.stat().st_size / 1e6:.1f} MB) "
      f"and {printable(str(metrics.relative_to(Path.cwd())))}")
