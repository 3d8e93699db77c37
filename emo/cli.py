"""The `emo` command: tools around the pipeline that are handy outside `dvc repro`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from emo import __version__


def _fixture(args: argparse.Namespace) -> None:
    from emo.data.fixtures import FixtureSpec, make_fixture

    spec = FixtureSpec(actors=tuple(args.actors), parts=tuple(args.parts), sample_rate=args.sample_rate,
                       frame_size=(args.width, args.height), fps=args.fps, seed=args.seed)
    files = make_fixture(Path(args.out), spec)
    print(f"wrote {len(files)} clips under {args.out}")


def _pins(args: argparse.Namespace) -> None:
    from emo.core import pins

    print(pins.shell_words())


def _targets(args: argparse.Namespace) -> None:
    from emo.core import params
    from emo.core.errors import reported

    with reported():
        video_run = params.load(args.params).video.run
    # The report and the shipped model (release) pull in every model they read and what those need: with video.run
    # [video] the full report (dvc.yaml names the video stages `name@video`), else the audio report. Not `peer`,
    # which needs the optional extra.
    reports = [f"report@{part}" for part in video_run] or ["report_audio"]
    print(" ".join([*reports, "release"]))


def _check_paired(args: argparse.Namespace) -> None:
    """The paired gate: per model, the change in accuracy on the shared test clips with its bootstrap interval."""
    from emo.core.errors import EmoError, reported
    from emo.reporting import paired

    with reported():
        if not args.paired:
            raise EmoError("--baseline-dir holds predictions, which only the paired gate reads: add --paired")
        if args.baseline or args.write_baseline:
            raise EmoError("--paired compares per-clip predictions: give --rev REV or --baseline-dir DIR (a "
                           "--baseline file holds metric values only)")
        if args.keys or args.relative:
            raise EmoError("--keys and --relative belong to the plain gate; --paired gates each model's accuracy")
        text, failed = paired.gate(args.rev, args.baseline_dir, args.predictions_dir, args.tolerance, args.md)
    print(text, end="")
    if failed:
        sys.exit(1)


def _compare(args: argparse.Namespace) -> None:
    """Per model, REV_B (or the working tree) minus REV_A on the shared test clips, with bootstrap intervals."""
    from emo.core.errors import reported
    from emo.reporting import paired

    with reported():
        print(paired.revisions(args.rev_a, args.rev_b, args.predictions_dir), end="")


def _check_metrics(args: argparse.Namespace) -> None:
    """Compare metrics/*.json with a baseline; exit 1 naming every metric that dropped beyond the tolerance."""
    from emo.core.errors import reported
    from emo.reporting import gate, metric_docs

    if not (args.baseline or args.rev or args.write_baseline or args.baseline_dir):
        args.usage_error("one of the arguments --baseline --rev --write-baseline is required (with --paired: --rev "
                         "or --baseline-dir)")
    if args.paired or args.baseline_dir:
        _check_paired(args)
        return
    keys = tuple(dict.fromkeys(args.keys or metric_docs.GATED))  # a key given twice is gated once
    args.tolerance = gate.TOLERANCE if args.tolerance is None else args.tolerance
    with reported():
        now = metric_docs.current(args.metrics_dir)
        if args.write_baseline:
            written = metric_docs.write_baseline(args.write_baseline, now, keys, args.metrics_dir)
            print(f"wrote {args.write_baseline}: {sum(map(len, written.values()))} values of {len(written)} files")
            return
        if args.rev:
            baseline, source = metric_docs.select(metric_docs.at_rev(args.rev), keys), f"git revision {args.rev}"
        else:
            baseline, source = metric_docs.read_baseline(args.baseline), f"baseline {args.baseline}"
        metric_docs.require_gated(baseline, keys, source)
    rows = gate.compare(baseline, now, keys, args.tolerance, args.relative)
    print(gate.render(rows, source, keys, args.tolerance, args.relative, markdown=args.md), end="")
    if any(row.failed for row in rows):
        sys.exit(1)


def _predict(args: argparse.Namespace) -> None:
    """Per-class emotion probabilities of new files (emo.predict.command); exit 1 if any file failed."""
    from emo.predict import command

    command.main(args)


def _variant(args: argparse.Namespace) -> None:
    """Run a named variant's audio models in a scratch copy and keep their metrics under metrics/<variant>/."""
    from emo.core.errors import reported
    from emo.experiments import scratch, variants

    with reported():
        written = variants.run(Path(args.project), args.name, scratch.sections(args.set))
    for path in written:
        print(f"wrote {path}")


def _nested(args: argparse.Namespace) -> None:
    """Nested cross-validation on the EmoBox folds; its metrics go to metrics/emobox/nested.json."""
    from emo.core.errors import reported
    from emo.core.io import write_json
    from emo.experiments import candidates, nested

    project = Path(args.project)
    with reported():
        chosen = candidates.candidates_named(args.candidates, project)
        result = nested.run(project, Path(args.work) if args.work else project / "data" / "nested",
                            args.models, chosen)
        out = project / (args.out or nested.METRICS)
        write_json(out, result)
    print(f"wrote {out}")


def _check_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    """`emo check-metrics`'s arguments, checked by emo.reporting.gate."""
    from emo.reporting import gate, metric_docs

    source = parser.add_mutually_exclusive_group()  # one is required: _check_metrics says so as argparse would
    parser.set_defaults(usage_error=parser.error)
    source.add_argument("--baseline", metavar="FILE", type=gate.path_arg,
                        help="JSON baseline: {metrics file: {key: number}}")
    source.add_argument("--rev", type=gate.rev_arg,
                        help="git revision whose committed metrics are the baseline, e.g. origin/main")
    source.add_argument("--write-baseline", metavar="FILE", type=gate.path_arg,
                        help="write the current metrics as a baseline file")
    source.add_argument("--baseline-dir", metavar="DIR", type=gate.path_arg,
                        help="with --paired: another copy of the project, whose predictions/*.csv are the baseline")
    parser.add_argument("--paired", action="store_true",
                        help="compare per-clip predictions (predictions/*.csv), not metric values: per model, the "
                        "change in accuracy on the test clips both sides scored (all seeds of each side), with a "
                        "paired bootstrap 95 %% interval (params.yaml evaluate); a model fails when the whole "
                        "interval is below 0 (more than the test set's noise) and the drop exceeds --tolerance "
                        "points, or when it is missing now")
    parser.add_argument("--keys", nargs="+", type=gate.key_arg, default=None,
                        help="gated keys, higher is better; dotted for nested ones, e.g. recall.neutral (default: "
                        f"{' '.join(metric_docs.GATED)})")
    parser.add_argument("--tolerance", type=gate.tolerance_arg, default=None,
                        help="largest allowed drop, a finite number >= 0 (default 0.02 absolute). With --paired, "
                        "in points of accuracy (default 1.0: a drop the noise cannot explain but smaller than about "
                        "one test clip in 120 is not worth blocking a change for)")
    parser.add_argument("--relative", action="store_true", help="tolerance is a fraction of the baseline value")
    parser.add_argument("--metrics-dir", type=gate.path_arg, default=metric_docs.METRICS,
                        help="folder of the current metrics JSON files; a baseline names them metrics/<path in it>")
    parser.add_argument("--predictions-dir", type=gate.path_arg, default="predictions",
                        help="with --paired: folder of the current predictions CSV files (default: predictions)")
    parser.add_argument("--md", action="store_true", help="markdown table, e.g. for $GITHUB_STEP_SUMMARY")


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    """`emo compare`'s arguments."""
    from emo.reporting import gate

    revision = ("a git revision (branch, tag, commit) or a DVC experiment's name as `dvc exp show` lists it (its "
                "ref is refs/exps/.../NAME: `git for-each-ref refs/exps`)")
    parser.add_argument("rev_a", metavar="REV_A", type=gate.rev_arg, help=f"before: {revision}")
    parser.add_argument("rev_b", metavar="REV_B", type=gate.rev_arg, nargs="?",
                        help=f"after: {revision} (default: the working tree's predictions)")
    parser.add_argument("--predictions-dir", type=gate.path_arg, default="predictions",
                        help="without REV_B: folder of the current predictions CSV files (default: predictions)")


def _variant_arguments(parser: argparse.ArgumentParser) -> None:
    """`emo variant`'s arguments: the names of emo.experiments.variants."""
    from emo.experiments.variants import VARIANTS

    parser.add_argument("name", choices=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one more parameter (dotted key, YAML value), e.g. train.seeds=[0]")
    parser.add_argument("--project", default=".", help="the pipeline's folder (default: here)")


def _nested_arguments(parser: argparse.ArgumentParser) -> None:
    """`emo nested`'s arguments: the models and candidates of emo.experiments.nested (which imports torch)."""
    from emo.experiments.nested import MODELS

    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="the models scored on the outer folds (default: all four audio models)")
    parser.add_argument("--candidates", nargs="+", metavar="NAME", help="the recipes the folds choose among, by "
                        "their names in PROJECT/variants/nested.yaml (default: all)")
    parser.add_argument("--work", help="folder for candidates' features and inner scores, reused by a later run "
                        "(default: PROJECT/data/nested)")
    parser.add_argument("--out", help="the metrics file, relative to PROJECT (default: metrics/emobox/nested.json); "
                        "a run of some models or candidates only may go beside it")
    parser.add_argument("--project", default=".", help="the pipeline's folder (default: here)")


def _lazy(commands, command: str | None, name: str, run, arguments, help: str) -> None:
    """A subcommand whose arguments are added only when it is the one run: defining them imports modules
    (torch, the gate) that `emo --help` and the other commands should not pay for."""
    parser = commands.add_parser(name, help=help)
    if command == name:
        arguments(parser)
    parser.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `emo` console command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # A command's arguments that need its module (the gate's checks, the variants' and candidates' names) are added
    # only when that command runs, so that `emo --help`, `emo targets` (make repro) and `emo check-metrics` start
    # without importing torch and the like; the first word that is not an option names the command.
    command = next((word for word in argv if not word.startswith("-")), None)
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

    targets = commands.add_parser("targets", help="the `dvc repro` targets of params.yaml: the full report "
                                  "(report@video) when video.run is [video], else the audio report; and release")
    targets.add_argument("--params", default="params.yaml")
    targets.set_defaults(run=_targets)

    pinned = commands.add_parser("pins", help="the environment that pins numpy, OpenBLAS, MKL, oneDNN, torch and "
                                 "numba to AVX2 kernels (what `import emo` sets), as NAME=value words: start a Dask "
                                 "worker with `env $(emo pins) dask worker ADDRESS --nthreads 1`")
    pinned.set_defaults(run=_pins)

    _lazy(commands, command, "check-metrics", _check_metrics, _check_metrics_arguments,
          "compare metrics/*.json with a baseline (a file or a git "
          "revision); exit 1 when a gated metric drops by more than the tolerance")

    _lazy(commands, command, "compare", _compare, _compare_arguments,
          "per model, REV_B minus REV_A (or the working tree minus REV_A): "
          "accuracy and UAR on the test clips both scored, with paired bootstrap 95 %% "
          "intervals, from the committed predictions/*.csv")

    guess = commands.add_parser("predict", help="per-class emotion probabilities of new audio / video files from "
                                "the shipped model, or a project's trained models")
    guess.add_argument("files", nargs="*", metavar="FILE", help="a wav/flac (audio model), a video-only mp4 (video "
                       "model), an audio-video mp4 (fusion), or a folder: every such file under it")
    guess.add_argument("--pair", nargs=2, action="append", default=[], metavar=("AUDIO", "VIDEO"),
                       help="an audio file and a video of the same performance, for the fusion model; repeatable")
    guess.add_argument("--model", action="append", default=[], metavar="NAME", help="a model of models/*.pt "
                       "(e.g. audio_mfcc_unbalanced) instead of the default of its kind; repeatable")
    guess.add_argument("--speakers", choices=("auto", "ravdess", "folder", "one", "none"), default="auto",
                       help="speaker groups for normalisation: auto = RAVDESS actor, else folder, never an emotion "
                       "folder (default); ravdess; folder; one (all files); none (training statistics)")
    guess.add_argument("--speaker-stats", choices=("auto", "own", "training"), default="auto", help="within a "
                       "speaker group: auto = own statistics from 8 clips up, else the training actors' (default)")
    guess.add_argument("--no-pair", action="store_true",
                       help="do not pair audio and video files of the same RAVDESS performance")
    guess.add_argument("--json", action="store_true", help="JSON instead of a table")
    guess.add_argument("--project", help="the pipeline's folder: params.yaml, models/, data/split/ (default: here "
                       "where models/ or --model, else the model shipped with emo)")
    guess.add_argument("--about", action="store_true", help="the shipped model's card: data, scores, limits, licence")
    guess.set_defaults(run=_predict)

    _lazy(commands, command, "variant", _variant, _variant_arguments,
          "run the audio models of a named variant (paper: the paper's "
          "recipe; emobox: the EmoBox folds) in a scratch copy of the project and keep "
          "their metrics under metrics/NAME/ for the report (long: whole trainings)")

    _lazy(commands, command, "nested", _nested, _nested_arguments,
          "nested cross-validation on the EmoBox folds: each fold chooses its "
          "recipe among candidates by cross-validation over its own training actors, then is "
          "scored with it (metrics/emobox/nested.json; long: whole trainings)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
