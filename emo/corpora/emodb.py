"""EmoDB (Berlin Database of Emotional Speech): its file names, and its fetch from the official zip or a folder,
verified clip by clip against the decoded samples of the release emo knows.

The official zip has no published checksum, and a folder may hold the clips as wav or as FLAC, so what is checked is
the audio itself: emodb_samples.tsv (beside this module) lists each of the 535 clips with its sample rate, frame
count and the sha256 of its decoded 16-bit PCM samples (int16 little-endian, channels interleaved), the same for the
original wav and a lossless copy. It was made from the FLAC mirror ../shared/emodb (whose files its README says
decode sample for sample to the official zip's wav files) by `python bench/emodb_samples.py`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import soundfile
from tqdm.auto import tqdm

from emo.core.errors import EmoError
from emo.corpora.base import SPEECH, Corpus, Source, Utterance, lookup, name_error
from emo.corpora.fetch import LocalWriteError, fetch_folder, fetch_zip
from emo.fetch import remote
from emo.fetch.download import FetchReport

log = logging.getLogger(__name__)

TITLE = "EmoDB"
SCHEME = "SSTTTEV.wav (speaker, text code, emotion letter, version), e.g. 03a01Fa.wav"
OFFICIAL_ZIP = "http://emodb.bilderbar.info/download/download.zip"
ARCHIVE = "emodb-download.zip"  # its name in the archive folder, beside RAVDESS's zips
CLIPS = 535
SAMPLES = Path(__file__).with_name("emodb_samples.tsv")  # the content manifest, shipped as package data
SAMPLE_COLUMNS = ("clip", "sample_rate", "frames", "pcm16_sha256")
MAX_ZIP_BYTES = 200 << 20  # the official zip is about 40 MB; the site publishes no size, so this bounds the disk
GENDERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male", "12": "male",
           "13": "female", "14": "female", "15": "male", "16": "female"}
# The German initials of the emotions; Langeweile (boredom) has no RAVDESS counterpart and keeps its name.
EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy", "T": "sad", "N": "neutral"}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse(path: Path) -> Utterance:
    """The utterance an EmoDB file name describes."""
    match = _NAME.match(path.stem)
    if not match:
        raise name_error(path, TITLE, SCHEME, "not an EmoDB file name")
    speaker, text, letter, version = match.groups()
    problems: list[str] = []
    gender = lookup(GENDERS, speaker, "speaker", problems)
    sentence = lookup(TEXTS, text, "text code", problems)
    emotion = lookup(EMOTIONS, letter, "emotion letter", problems)
    if problems:
        raise name_error(path, TITLE, SCHEME, "invalid EmoDB name: " + "; ".join(problems))
    return Utterance(corpus="emodb", clip=path.stem, speaker=f"emodb:{speaker}", gender=gender, emotion=emotion,
                     sentence=sentence, take=version)


CORPUS = Corpus(
    name="emodb", title=TITLE, scheme=SCHEME, parse=parse, labels=tuple(EMOTIONS.values()),
    expected={SPEECH: CLIPS},
    source=Source(page="http://emodb.bilderbar.info/", download=OFFICIAL_ZIP,
                  how="fetch_emodb downloads the official zip (535 wav under wav/, no published checksum: every "
                      "clip's decoded samples are checked against emo's manifest of them), or copies a folder such "
                      "as ../shared/emodb, checked the same way"),
)


class SampleMismatchError(EmoError, ValueError):
    """A copy of EmoDB whose clips are not those of the manifest: missing, extra or different samples."""


class CorruptDownloadError(remote.DownloadError):
    """The downloaded zip did not hold the EmoDB the manifest lists; it was deleted for the next run to fetch."""


@dataclass(frozen=True)
class Samples:
    """What a clip decodes to: its rate, its length and the sha256 of its samples as int16 little-endian bytes."""

    sample_rate: int
    frames: int
    sha256: str


def decoded_samples(path: Path) -> Samples:
    """A clip's decoded audio summed up, the same for a wav and a lossless copy of it (FLAC); streamed in blocks."""
    hasher, frames = hashlib.sha256(), 0
    with soundfile.SoundFile(str(path)) as sound:
        rate = sound.samplerate
        for block in sound.blocks(blocksize=1 << 16, dtype="int16", always_2d=True):
            hasher.update(block.astype("<i2", copy=False).tobytes())  # C order: channels interleaved per frame
            frames += len(block)
    return Samples(sample_rate=rate, frames=frames, sha256=hasher.hexdigest())


def sample_manifest(paths: list[Path], progress: bool = False) -> dict[str, Samples]:
    """Clip name (file stem) -> its decoded samples, for each path: what emodb_samples.tsv holds for EmoDB."""
    return {path.stem: decoded_samples(path) for path in tqdm(sorted(paths), desc="decoding", unit="clip",
                                                                 disable=not progress)}


def write_samples(path: Path, samples: Mapping[str, Samples]) -> None:
    """Write a content manifest (tab-separated, a header, one clip a line sorted by name)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(SAMPLE_COLUMNS)
        for clip in sorted(samples):
            item = samples[clip]
            writer.writerow([clip, item.sample_rate, item.frames, item.sha256])


def read_samples(path: Path = SAMPLES) -> dict[str, Samples]:
    """Read a content manifest written by write_samples; a damaged one is refused, naming its line."""
    samples: dict[str, Samples] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle, delimiter="\t")
            if tuple(next(rows, ())) != SAMPLE_COLUMNS:
                raise ValueError(f"line 1 is not the header {'<tab>'.join(SAMPLE_COLUMNS)}")
            for row in rows:
                if (len(row) != len(SAMPLE_COLUMNS) or not _NAME.match(row[0]) or row[0] in samples
                        or not row[1].isdigit() or not row[2].isdigit() or not _SHA256.fullmatch(row[3])):
                    raise ValueError(f"line {rows.line_num} is not a new clip, rate, frames and sha256: {row}")
                samples[row[0]] = Samples(sample_rate=int(row[1]), frames=int(row[2]), sha256=row[3])
    except (OSError, ValueError, csv.Error) as err:
        raise EmoError(f"EmoDB's sample manifest {path}: {remote.one_line(err)}; reinstall emo (or run "
                       "bench/emodb_samples.py on a trusted copy)") from None
    if not samples:
        raise EmoError(f"EmoDB's sample manifest {path} lists no clips; reinstall emo")
    return samples


def check_samples(paths: list[Path], expected: Mapping[str, Samples], where: str, progress: bool = False) -> None:
    """Refuse a copy unless its clips (by file stem) are exactly the manifest's, each decoding to the listed
    samples; the error names the first clip that differs (missing ones first, then extra ones, then by name)."""
    found = {path.stem: path for path in paths}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise SampleMismatchError(f"{where}: clip {missing[0]} is missing ({len(missing)} of the manifest's "
                                  f"{len(expected)} clips missing)")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise SampleMismatchError(f"{where}: clip {extra[0]} ({found[extra[0]].name}) is not in the manifest of "
                                  f"{len(expected)} clips")
    for clip in tqdm(sorted(found), desc=f"checking {where}", unit="clip", disable=not progress):
        try:
            have, want = decoded_samples(found[clip]), expected[clip]
        except (RuntimeError, soundfile.LibsndfileError) as err:
            raise SampleMismatchError(f"{where}: clip {clip} ({found[clip].name}) does not decode "
                                      f"({remote.one_line(err)})") from None
        if have != want:
            raise SampleMismatchError(
                f"{where}: clip {clip} ({found[clip].name}) decodes to {have.frames} frames at {have.sample_rate} "
                f"Hz with samples sha256 {have.sha256}, the manifest says {want.frames} frames at "
                f"{want.sample_rate} Hz with {want.sha256}")


def in_wav_folder(name: str) -> bool:
    """Whether a zip member sits in the zip's wav/ folder, where the official zip keeps the clips."""
    return Path(name).parent.name == "wav"


def fetch_emodb(source: str | Path, out: Path, archive_dir: Path, *, manifest: Path | None = None,
                retries: int = 5, backoff: float = 2.0, timeout: float = 60.0, keep_archive: bool = True,
                progress: bool = True) -> FetchReport:
    """Fill `out` with EmoDB from a folder or an http(s) zip (official: OFFICIAL_ZIP); all or nothing, every clip's
    decoded samples checked against `manifest` (default SAMPLES, emodb_samples.tsv: the release emo knows).

    A download goes through emo.fetch.remote.download (resumed, retried, bounded by MAX_ZIP_BYTES: the site publishes
    no size or checksum), then the 535 clips under wav/ are extracted within emo.fetch.download's bounds, decoded and
    checked. A zip that fails any check is deleted with the staged copy, so the next run downloads it afresh.
    """
    manifest = manifest or SAMPLES
    expected = read_samples(manifest)

    def verify(where: str):
        return lambda paths: check_samples(paths, expected, where, progress)

    if remote.url_scheme(str(source)) is None:
        folder = Path(source).expanduser()
        try:
            return fetch_folder(folder, CORPUS, out, progress, verify=verify(str(folder)))
        except SampleMismatchError as err:
            raise SampleMismatchError(f"{err}: {folder} is not the EmoDB release emo checks against ({manifest}), "
                                      "but another version or an edited copy; use the official zip") from None
    if not remote.is_http_url(source):
        raise EmoError(f"EmoDB source {source!r}: only http(s) URLs or local folders are supported")
    zip_file = remote.RemoteFile(key=ARCHIVE, url=str(source), size=None, md5=None)
    archive = remote.download(zip_file, archive_dir, retries=retries, backoff=backoff, timeout=timeout,
                              progress=progress, max_bytes=MAX_ZIP_BYTES)
    try:
        report = fetch_zip(archive, CORPUS, out, keep=in_wav_folder, verify=verify(f"{archive.name} from {source}"))
    except LocalWriteError:
        raise  # our disk, not the zip: kept for the next run to check again
    except EmoError as err:  # nothing vouches for the zip but its content: whatever is wrong with it, fetch anew
        archive.unlink(missing_ok=True)
        lines = str(err)
        sep = "\n" if "\n" in lines else ": "
        raise CorruptDownloadError(f"{lines}{sep}the download was corrupt; {archive} is deleted and will be "
                                   "fetched again on the next run") from err
    if not keep_archive:
        archive.unlink()
    return report
