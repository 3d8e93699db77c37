"""EmoDB's count and fetch: from a folder (the real mirror, generated ones) and from a zip served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import FakeZenodo
from emo.corpora import CORPORA, emodb, fetch_emodb, fetch_folder, savee
from emo.corpora.fetch import check_decodes
from emo.corpora.listing import check_count, inventory
from emo.download import DuplicateClipError, MissingClipsError
from emo.errors import EmoError
from emo.inventory import DamagedClipError
from emo.zenodo import DownloadError
from shared_data import SHARED, require

ZIP = "download.zip"


def emodb_names(count: int = emodb.CLIPS) -> list[str]:
    """`count` distinct valid EmoDB stems (the real corpus holds 535 of these 700 combinations)."""
    combos = itertools.product(emodb.GENDERS, emodb.TEXTS, emodb.EMOTIONS)
    return [f"{s}{t}{e}a" for s, t, e in itertools.islice(combos, count)]


def wav_bytes(frames: int = 4000) -> bytes:
    """A short 16 kHz 16-bit mono wav, the format of EmoDB's clips."""
    buffer = io.BytesIO()
    soundfile.write(buffer, (np.arange(frames) % 50 * 100).astype(np.int16), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def make_zip(path: Path, names: list[str], damaged: str | None = None) -> Path:
    """A zip laid out like the official one: clips under wav/, label files and notes beside them."""
    audio = wav_bytes()  # stored: 4 MB, so a cut download has written whole 1 MiB chunks to resume from
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("erklaerung.txt", "Beschreibung der Datenbank")
        for name in names:
            bundle.writestr(f"wav/{name}.wav", b"<html>not audio</html>" if name == damaged else audio)
            bundle.writestr(f"lablaut/{name}.lab", "0.0 1.0 a")
    return path


@pytest.fixture(scope="session")
def served_folder(tmp_path_factory) -> Path:
    """A folder holding a complete generated EmoDB zip, for the fake server."""
    folder = tmp_path_factory.mktemp("emodb_zip")
    make_zip(folder / ZIP, emodb_names())
    return folder


@pytest.fixture
def server(served_folder):
    with FakeZenodo(served_folder) as fake:
        yield fake


def pins(zip_path: Path) -> dict:
    """The size and md5 a caller gives for a zip it trusts."""
    return {"size": zip_path.stat().st_size, "md5": hashlib.md5(zip_path.read_bytes()).hexdigest()}


def fetch_url(server: FakeZenodo, tmp_path: Path, **overrides):
    settings = {**pins(server.folder / ZIP), "retries": 2, "backoff": 0.01, "timeout": 10.0, "progress": False}
    return fetch_emodb(f"{server.record_url}/files/{ZIP}/content", tmp_path / "raw", tmp_path / "archives",
                       **{**settings, **overrides})


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under a folder."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def test_count_checks_refuse_fewer_and_more_clips(tmp_path):
    for name in emodb_names():
        (tmp_path / f"{name}.wav").touch()
    clips = inventory(tmp_path, CORPORA["emodb"])
    check_count(clips, CORPORA["emodb"], "here")
    with pytest.raises(MissingClipsError, match=r"here holds 534 of the 535 EmoDB audio_speech clips \(1 missing\)"):
        check_count(clips[1:], CORPORA["emodb"], "here")
    with pytest.raises(EmoError, match="holds 536 EmoDB audio_speech clips, but the corpus has 535"):
        check_count([*clips, clips[0]], CORPORA["emodb"], "here")


def test_real_emodb_folder_is_copied_verified_and_untouched(tmp_path):
    mirror = require(SHARED / "emodb" / "MANIFEST.tsv", "the EmoDB mirror").parent
    before = listing(mirror)
    report = fetch_emodb(mirror, tmp_path / "raw", tmp_path / "archives", progress=False)
    assert report.clips == {"audio_speech": 535} and report.verified == 535
    assert (tmp_path / "raw/audio_speech/03/03a01Fa.flac").read_bytes() == (mirror / "wav/03a01Fa.flac").read_bytes()
    assert len(list((tmp_path / "raw").rglob("*.flac"))) == 535 and not (tmp_path / "archives").exists()
    assert listing(mirror) == before


@pytest.fixture
def generated_folder(served_folder, tmp_path) -> Path:
    """The served zip unpacked: a folder of 535 EmoDB wav files with label files beside them."""
    with zipfile.ZipFile(served_folder / ZIP) as bundle:
        bundle.extractall(tmp_path / "mirror")
    return tmp_path / "mirror"


def test_folder_clip_that_does_not_match_its_manifest_is_refused(generated_folder, tmp_path):
    (generated_folder / "MANIFEST.tsv").write_text("path\tsha256\nwav/03a01Fa.wav\t" + "0" * 64 + "\n")
    with pytest.raises(DownloadError, match="03a01Fa.wav: sha256 .* does not match the mirror's MANIFEST.tsv"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", progress=False)
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()


def test_folder_clip_that_does_not_decode_is_refused_and_the_old_copy_kept(generated_folder, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "old.txt").write_text("the previous complete copy")
    (generated_folder / "wav/03a01Fa.wav").write_bytes(b"RIFF but not really")
    with pytest.raises(DamagedClipError, match=r"1 of 535 clips from .*mirror are damaged:\n  .*03a01Fa.wav: "
                                               r"does not decode"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", progress=False)
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["old.txt"]


def test_folder_missing_a_clip_is_refused(generated_folder, tmp_path):
    (generated_folder / "wav/03a01Fa.wav").unlink()
    with pytest.raises(MissingClipsError, match="holds 534 of the 535 EmoDB audio_speech clips"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", progress=False)


def test_zip_over_http_gives_the_canonical_layout(server, tmp_path):
    report = fetch_url(server, tmp_path)
    assert report.clips == {"audio_speech": 535} and report.verified == 535
    assert report.archives == [emodb.ARCHIVE]
    clips = sorted(p.relative_to(tmp_path / "raw").as_posix() for p in (tmp_path / "raw").rglob("*.*"))
    assert len(clips) == 535 and clips[0] == "audio_speech/03/03a01Aa.wav"  # label files and notes left out
    assert (tmp_path / "archives" / emodb.ARCHIVE).is_file()
    assert server.file_requests(ZIP) == [None]


def test_truncated_download_is_resumed_within_the_run(server, tmp_path):
    size = (server.folder / ZIP).stat().st_size
    server.faults.cut_after[ZIP] = size // 2
    assert fetch_url(server, tmp_path, keep_archive=False).clips == {"audio_speech": 535}
    first, resumed = server.file_requests(ZIP)
    assert first is None and 0 < int(resumed.removeprefix("bytes=").removesuffix("-")) <= size // 2
    assert not (tmp_path / "archives" / emodb.ARCHIVE).exists()


def test_truncated_download_is_resumed_by_the_next_run(server, tmp_path):
    size = (server.folder / ZIP).stat().st_size
    server.faults.cut_after[ZIP] = size // 2
    with pytest.raises(DownloadError, match="connection .* the partial file .* is kept"):
        fetch_url(server, tmp_path, retries=0)
    assert not (tmp_path / "raw").exists() and (tmp_path / "archives" / f"{emodb.ARCHIVE}.part").is_file()
    fetch_url(server, tmp_path)
    assert server.file_requests(ZIP)[1].startswith("bytes=") and len(list((tmp_path / "raw").rglob("*.wav"))) == 535


def test_zip_missing_clips_is_refused_before_extracting(tmp_path):
    archive = make_zip(tmp_path / ZIP, emodb_names()[:-1])
    with FakeZenodo(tmp_path) as fake, pytest.raises(MissingClipsError, match=f"{emodb.ARCHIVE} holds 534 of the "
                                                                            "535 EmoDB audio_speech clips"):
        fetch_url(fake, tmp_path, **pins(archive))
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()


def test_zip_member_that_does_not_decode_is_refused(tmp_path):
    archive = make_zip(tmp_path / ZIP, emodb_names(), damaged="03a01Wa")
    with FakeZenodo(tmp_path) as fake, pytest.raises(DamagedClipError, match=r"1 of 535 clips .* damaged:\n  "
                                                                             r".*03a01Wa.wav: does not decode"):
        fetch_url(fake, tmp_path, **pins(archive))
    assert not (tmp_path / "raw").exists()


def test_zip_holding_a_clip_twice_is_refused(tmp_path):
    archive = make_zip(tmp_path / ZIP, emodb_names())
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("extra/wav/03a01Fa.wav", wav_bytes())
    with FakeZenodo(tmp_path) as fake, pytest.raises(DuplicateClipError, match="03a01Fa appears twice"):
        fetch_url(fake, tmp_path, **pins(archive))


def test_url_without_size_and_md5_is_refused_before_any_request(tmp_path):
    with pytest.raises(EmoError, match="EmoDB site publishes none.*or use a folder"):
        fetch_emodb(emodb.OFFICIAL_ZIP, tmp_path / "raw", tmp_path / "archives", progress=False)
    with pytest.raises(EmoError, match="only http.s. URLs or local folders"):
        fetch_emodb("ftp://example.org/emodb.zip", tmp_path / "raw", tmp_path / "archives", progress=False)
    assert not (tmp_path / "archives").exists()


def test_other_corpora_fetch_from_folders_too(tmp_path):
    audio = wav_bytes()
    for speaker, (code, top) in itertools.product(savee.SPEAKERS, savee.SENTENCES.items()):
        for number in range(1, top + 1):
            (tmp_path / "savee" / speaker).mkdir(parents=True, exist_ok=True)
            (tmp_path / "savee" / speaker / f"{code}{number:02d}.wav").write_bytes(audio)
    report = fetch_folder(tmp_path / "savee", CORPORA["savee"], tmp_path / "raw", progress=False)
    assert report.clips == {"audio_speech": 480} and report.verified == 0
    assert (tmp_path / "raw/audio_speech/DC/DC_sa01.wav").read_bytes() == audio


def test_lfs_pointers_are_named_and_a_corpus_known_damaged_clip_only_warns(tmp_path, caplog):
    pointer = tmp_path / "1001_DFA_ANG_XX.wav"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    silent = tmp_path / "1076_MTI_SAD_XX.wav"
    soundfile.write(silent, np.zeros(0, np.int16), 16000)
    with caplog.at_level("WARNING", logger="emo.corpora.fetch"), pytest.raises(
            DamagedClipError, match=r"1 of 2 clips .*\n  .*1001_DFA_ANG_XX.wav: a Git LFS pointer") as err:
        check_decodes([pointer, silent], "the clone", CORPORA["cremad"].known_damaged)
    assert "1076" not in str(err.value) and "1076_MTI_SAD_XX.wav: holds no audio frames" in caplog.text
