"""Write emo/corpora/emodb_samples.tsv, EmoDB's content manifest, from a trusted copy of EmoDB (default: the FLAC
mirror ../shared/emodb): per clip its sample rate, frame count and the sha256 of its decoded 16-bit PCM samples
(int16 little-endian), which a wav and its lossless FLAC copy share. fetch_emodb checks every copy against it.

Run: .venv/bin/python bench/emodb_samples.py [FOLDER [OUT]]
  --check: compare FOLDER with the shipped manifest instead of writing one (exit status 1 on a difference)
"""

from __future__ import annotations

import sys
from pathlib import Path

from emo.corpora import emodb
from emo.corpora.listing import check_count, inventory

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    folder = Path(args[0] if args else REPO.parent / "shared" / "emodb").resolve()
    out = Path(args[1]) if len(args) > 1 else emodb.SAMPLES
    clips = inventory(folder, emodb.CORPUS)
    check_count(clips, emodb.CORPUS, str(folder))  # all 535, each once (as wav or as flac)
    samples = emodb.sample_manifest([Path(u.path) for u in clips], progress=True)
    if check:
        shipped = emodb.read_samples(out)
        differ = sorted(c for c in set(samples) | set(shipped) if samples.get(c) != shipped.get(c))
        print(f"{folder}: {len(samples)} clips, {len(differ)} differ from {out}{': ' * bool(differ)}{differ[:5] or ''}")
        return 1 if differ else 0
    emodb.write_samples(out, samples)
    print(f"{out}: {len(samples)} clips from {folder}, {sum(s.frames for s in samples.values())} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
