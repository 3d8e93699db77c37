"""EmoDB (Berlin Database of Emotional Speech): its file names, and its fetch from the official zip or a folder."""

from __future__ import annotations

import re
from pathlib import Path

from emo import zenodo
from emo.corpora.base import SPEECH, Corpus, Source, Utterance, lookup, name_error
from emo.corpora.fetch import fetch_folder, fetch_zip
from emo.download import FetchReport
from emo.errors import EmoError

TITLE = "EmoDB"
SCHEME = "SSTTTEV.wav (speaker, text code, emotion letter, version), e.g. 03a01Fa.wav"
OFFICIAL_ZIP = "http://emodb.bilderbar.info/download/download.zip"
ARCHIVE = "emodb-download.zip"  # its name in the archive folder, beside RAVDESS's zips
CLIPS = 535
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
                  how="fetch_emodb downloads the official zip (535 wav under wav/, no published checksum: the "
                      "count is checked and every clip decoded), or copies a folder such as ../shared/emodb"),
)


def in_wav_folder(name: str) -> bool:
    """Whether a zip member sits in the zip's wav/ folder, where the official zip keeps the clips."""
    return Path(name).parent.name == "wav"


def fetch_emodb(source: str | Path, out: Path, archive_dir: Path, *, size: int | None = None,
                md5: str | None = None, retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                keep_archive: bool = True, progress: bool = True) -> FetchReport:
    """Fill `out` with EmoDB from a folder or an http(s) zip (official: OFFICIAL_ZIP); all or nothing.

    A download goes through emo.zenodo.download (resumed, retried, checked against `size` and `md5`), then
    the 535 clips under wav/ are extracted within emo.download's bounds and each one decoded.
    """
    if zenodo.url_scheme(str(source)) is None:
        return fetch_folder(Path(source).expanduser(), CORPUS, out, progress)
    if not zenodo.is_http_url(source):
        raise EmoError(f"EmoDB source {source!r}: only http(s) URLs or local folders are supported")
    if size is None or md5 is None:
        # emo.zenodo.download checks every byte against a size and an md5, and the EmoDB site publishes neither.
        raise EmoError(f"EmoDB from {source}: emo downloads a file only with its size and md5 to check it "
                       "against, and the EmoDB site publishes none. Give both (from a copy you trust: "
                       "`stat -c %s download.zip; md5sum download.zip`), or use a folder such as ../shared/emodb")
    remote = zenodo.RemoteFile(key=ARCHIVE, url=str(source), size=size, md5=md5.lower())
    archive = zenodo.download(remote, archive_dir, retries=retries, backoff=backoff, timeout=timeout,
                              progress=progress)
    report = fetch_zip(archive, CORPUS, out, keep=in_wav_folder, verified=True)
    if not keep_archive:
        archive.unlink()
    return report
