"""The `emo` command: tools around the pipeline that are handy outside `dvc repro`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from emo import __version__


def _fixture(args: argparse.Namespace) -> None:
    from emo.fixtures import FixtureSpec, make_fixture

    spec = FixtureSpec(actors=tuple(args.actors), parts=tuple(args.parts), sample_rate=args.sample_rate,
                       frame_size=(args.width, args.height), fps=args.fps, seed=args.seed)
    files = make_fixture(Path(args.out), spec)
    print(f"wrote {len(files)} clips under {args.out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `emo` console command."""
    parser = argparse.ArgumentParser(prog="emo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"emo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    fixture = commands.add_parser("fixture", help="generate a tiny RAVDESS-shaped dataset for tests and demos")
    fixture.add_argument("out", help="folder to write into")
    fixture.add_argument("--actors", type=int, nargs="+", default=[1, 2, 21, 23])
    fixture.add_argument("--parts", nargs="+", default=["audio_speech", "video_speech"])
    fixture.add_argument("--sample-rate", type=int, default=16000)
    fixture.add_argument("--width", type=int, default=320)
    fixture.add_argument("--height", type=int, default=180)
    fixture.add_argument("--fps", type=float, default=15.0)
    fixture.add_argument("--seed", type=int, default=0)
    fixture.set_defaults(run=_fixture)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
