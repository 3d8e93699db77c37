"""EmoDB's count and fetch: from a folder (the real mirror, generated ones) and from a zip served on 127.0.0.1, each
checked against a manifest of the clips' decoded samples (the shipped one for the real mirror, else one made here)."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emo.core.errors import EmoError
from emo.corpora import CORPORA, emodb, fetch_emodb, fetch_folder, savee
from emo.corpora.bring import bring
from emo.corpora.emodb import CorruptDownloadError, SampleMismatchError, Samples
from emo.corpora.fetch import check_decodes
from emo.corpora.listing import check_count, inventory
from emo.data.inventory import DamagedClipError
from emo.fetch import remote
from emo.fetch.download import MissingClipsError
from emo.fetch.remote import DownloadError
from fake_zenodo import FakeZenodo
from shared_data import SHARED, require

ZIP = "download.zip"


def emodb_names(count: int = emodb.CLIPS) -> list[str]:
    """`count` distinct valid EmoDB stems (the real corpus holds 535 of these 700 combinations)."""
    combos = itertools.product(emodb.GENDERS, emodb.TEXTS, emodb.EMOTIONS)
    return [f"{s}{t}{e}a" for s, t, e in itertools.islice(combos, count)]


def samples(seed: int, frames: int = 4000) -> np.ndarray:
    """A generated clip's samples: noise, different for every seed."""
    return np.random.default_rng(seed).integers(-3000, 3000, frames).astype(np.int16)


def wav_bytes(seed: int = 0) -> bytes:
    """A short 16 kHz 16-bit mono wav, the format of EmoDB's clips."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples(seed), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def make_zip(path: Path, names: list[str], damaged: str | None = None, altered: str | None = None) -> Path:
    """A zip laid out like the official one: clips under wav/, label files and notes beside them (`damaged`: that
    clip does not decode; `altered`: it decodes to other samples than the manifest's)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as bundle:  # stored: 4 MB, so a cut download has written
        bundle.writestr("erklaerung.txt", "Beschreibung der Datenbank")  # whole 1 MiB chunks to resume from
        for seed, name in enumerate(names):
            audio = b"<html>not audio</html>" if name == damaged else wav_bytes(seed + 10_000 * (name == altered))
            bundle.writestr(f"wav/{name}.wav", audio)
            bundle.writestr(f"lablaut/{name}.lab", "0.0 1.0 a")
    return path


@pytest.fixture(scope="session")
def manifest(tmp_path_factory) -> Path:
    """The content manifest of the generated EmoDB, its digests computed here from the samples themselves."""
    path = tmp_path_factory.mktemp("manifest") / "samples.tsv"
    emodb.write_samples(path, {name: Samples(16000, 4000, hashlib.sha256(samples(seed).astype("<i2").tobytes())
                                             .hexdigest()) for seed, name in enumerate(emodb_names())})
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


def url(server: FakeZenodo) -> str:
    return f"{server.record_url}/files/{ZIP}/content"


def fetch_url(server: FakeZenodo, tmp_path: Path, manifest: Path, **overrides):
    settings = {"manifest": manifest, "retries": 2, "backoff": 0.01, "timeout": 10.0, "progress": False}
    return fetch_emodb(url(server), tmp_path / "raw", tmp_path / "archives", **{**settings, **overrides})


def nothing_left(tmp_path: Path) -> bool:
    """Whether a failed fetch left no copy, no staged copy and no archive (whole or partial) behind."""
    return not any((tmp_path / name).exists() for name in ("raw", ".raw.partial", f"archives/{emodb.ARCHIVE}",
                                                           f"archives/{emodb.ARCHIVE}.part"))


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


def test_shipped_manifest_matches_the_real_mirror():
    mirror = require(SHARED / "emodb" / "MANIFEST.tsv", "the EmoDB mirror").parent
    paths = [Path(u.path) for u in inventory(mirror, CORPORA["emodb"])]
    shipped = emodb.read_samples()
    assert len(shipped) == emodb.CLIPS and emodb.sample_manifest(paths) == shipped
    with open(mirror / "MANIFEST.tsv", newline="") as handle:  # the mirror's own account of rates and lengths
        files = {Path(row["path"]).stem: row for row in csv.DictReader(handle, delimiter="\t")}
    assert {clip: (s.sample_rate, s.frames) for clip, s in shipped.items()} == {
        clip: (int(row["sample_rate"]), int(row["frames"])) for clip, row in files.items()}


@pytest.fixture
def generated_folder(served_folder, tmp_path) -> Path:
    """The served zip unpacked: a folder of 535 EmoDB wav files with label files beside them."""
    with zipfile.ZipFile(served_folder / ZIP) as bundle:
        bundle.extractall(tmp_path / "mirror")
    return tmp_path / "mirror"


def test_generated_folder_is_copied_and_checked_against_its_manifest(generated_folder, manifest, tmp_path):
    report = fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", manifest=manifest,
                         progress=False)
    assert report.clips == {"audio_speech": 535} and report.verified == 535


def test_folder_of_another_emodb_version_is_refused_naming_the_clip(generated_folder, manifest, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "old.txt").write_text("the previous complete copy")
    (generated_folder / "wav/03a01Fa.wav").write_bytes(wav_bytes(seed=99_999))  # decodes, to other samples
    with pytest.raises(SampleMismatchError, match=r"^\S*mirror: clip 03a01Fa \(03a01Fa.wav\) decodes to 4000 frames "
                                                  r"at 16000 Hz with samples sha256 [0-9a-f]{64}, the manifest says "
                                                  r".*: \S*mirror is not the EmoDB release emo checks against"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", manifest=manifest, progress=False)
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["old.txt"] and not (tmp_path / ".raw.partial").exists()
    with pytest.raises(SampleMismatchError, match=r"clip 03a01Nc is missing \(412 of the manifest's 535 clips "
                                                  r"missing\): \S*mirror is not the EmoDB release"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", progress=False)  # the shipped one


def test_sample_checks_name_a_missing_an_extra_and_an_undecodable_clip(tmp_path):
    (tmp_path / "03a01Fa.wav").write_bytes(wav_bytes(1))
    (tmp_path / "03a01Wa.wav").write_bytes(b"RIFF but not really")
    clip = emodb.decoded_samples(tmp_path / "03a01Fa.wav")
    assert clip == Samples(16000, 4000, hashlib.sha256(samples(1).astype("<i2").tobytes()).hexdigest())
    with pytest.raises(SampleMismatchError, match=r"^here: clip 03a02Fa is missing \(1 of the manifest's 2 clips"):
        emodb.check_samples([tmp_path / "03a01Fa.wav"], {"03a01Fa": clip, "03a02Fa": clip}, "here")
    with pytest.raises(SampleMismatchError, match=r"^here: clip 03a01Wa \(03a01Wa.wav\) is not in the manifest"):
        emodb.check_samples([tmp_path / "03a01Fa.wav", tmp_path / "03a01Wa.wav"], {"03a01Fa": clip}, "here")
    with pytest.raises(SampleMismatchError, match=r"^here: clip 03a01Wa \(03a01Wa.wav\) does not decode"):
        emodb.check_samples([tmp_path / "03a01Wa.wav"], {"03a01Wa": clip}, "here")
    bad = tmp_path / "bad.tsv"
    bad.write_text("clip\tsample_rate\tframes\tpcm16_sha256\n03a01Fa\t16000\t4000\tnot-a-digest\n")
    with pytest.raises(EmoError, match=r"bad.tsv: ValueError: line 2 is not a new clip"):
        emodb.read_samples(bad)


def test_folder_clip_that_does_not_match_its_file_manifest_is_refused(generated_folder, manifest, tmp_path):
    (generated_folder / "MANIFEST.tsv").write_text("path\tsha256\nwav/03a01Fa.wav\t" + "0" * 64 + "\n")
    with pytest.raises(DownloadError, match="03a01Fa.wav: sha256 .* does not match the mirror's MANIFEST.tsv"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", manifest=manifest, progress=False)
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()


def test_folder_clip_that_does_not_decode_is_refused_and_the_old_copy_kept(generated_folder, manifest, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "old.txt").write_text("the previous complete copy")
    (generated_folder / "wav/03a01Fa.wav").write_bytes(b"RIFF but not really")
    with pytest.raises(DamagedClipError, match=r"1 of 535 clips from .*mirror are damaged:\n  .*03a01Fa.wav: "
                                               r"does not decode") as err:
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", manifest=manifest, progress=False)
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["old.txt"]
    # named where the user can mend it, in the source folder, not in the copy that was thrown away
    assert f"  {generated_folder / 'wav/03a01Fa.wav'}: does not decode" in str(err.value)
    assert ".partial" not in str(err.value)


def test_folder_missing_a_clip_is_refused(generated_folder, manifest, tmp_path):
    (generated_folder / "wav/03a01Fa.wav").unlink()
    with pytest.raises(MissingClipsError, match="holds 534 of the 535 EmoDB audio_speech clips"):
        fetch_emodb(generated_folder, tmp_path / "raw", tmp_path / "archives", manifest=manifest, progress=False)


def test_zip_over_http_gives_the_canonical_layout(server, manifest, tmp_path):
    report = fetch_url(server, tmp_path, manifest)
    assert report.clips == {"audio_speech": 535} and report.verified == 535
    assert report.archives == [emodb.ARCHIVE]
    clips = sorted(p.relative_to(tmp_path / "raw").as_posix() for p in (tmp_path / "raw").rglob("*.*"))
    assert len(clips) == 535 and clips[0] == "audio_speech/03/03a01Aa.wav"  # label files and notes left out
    assert (tmp_path / "archives" / emodb.ARCHIVE).is_file()
    assert server.file_requests(ZIP) == [None]
    fetch_url(server, tmp_path, manifest)  # the stored zip is checked again, not downloaded again
    assert server.file_requests(ZIP) == [None]


def test_official_emodb_comes_through_the_corpora_stage(server, manifest, tmp_path, monkeypatch):
    """`corpora.emodb: official` downloads the official zip (here: served on 127.0.0.1), checked by the manifest."""
    monkeypatch.setitem(CORPORA, "emodb", replace(emodb.CORPUS, source=replace(emodb.CORPUS.source,
                                                                                download=url(server))))
    monkeypatch.setattr(emodb, "SAMPLES", manifest)
    report = bring(("emodb",), {"emodb": "official"}, tmp_path / "corpora", tmp_path / "archives", progress=False)
    assert report == {"emodb": {"clips": 535, "verified": 535}}
    assert len(list((tmp_path / "corpora/emodb").rglob("*.wav"))) == 535


def test_corrupt_clip_in_the_download_deletes_it_and_the_next_run_fetches_it_again(server, manifest, tmp_path):
    good = (server.folder / ZIP).read_bytes()
    make_zip(tmp_path / ZIP, emodb_names(), altered="03a01Fa")
    server.folder = tmp_path  # the server now sends a zip in which one clip is not what the manifest says
    with pytest.raises(CorruptDownloadError, match=r"^emodb-download.zip from http://127.0.0.1:\d+/\S+: clip 03a01Fa "
                                                   r"\(03a01Fa.wav\) decodes to .*, the manifest says .*: the "
                                                   r"download was corrupt; \S+ is deleted and will be fetched again "
                                                   r"on the next run$"):
        fetch_url(server, tmp_path, manifest)
    assert nothing_left(tmp_path)
    (tmp_path / ZIP).write_bytes(good)
    assert fetch_url(server, tmp_path, manifest).verified == 535
    assert server.file_requests(ZIP) == [None, None]  # downloaded again, whole


def test_download_past_the_size_bound_is_refused(server, manifest, tmp_path, monkeypatch):
    monkeypatch.setattr(emodb, "MAX_ZIP_BYTES", 1 << 20)  # the site publishes no size: the bound is all there is
    with pytest.raises(DownloadError, match=r"announces \d+ bytes \(Content-Length\), above the 1 MiB bound"):
        fetch_url(server, tmp_path, manifest)
    assert nothing_left(tmp_path)


class Unframed(BaseHTTPRequestHandler):
    """Sends `body` with no Content-Length (HTTP/1.0: the end is where the connection closes)."""

    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.end_headers()
        self.wfile.write(self.body)


@pytest.mark.parametrize("size", [3 << 20, 1000])
def test_a_download_of_unknown_size_is_bounded(tmp_path, size):
    Unframed.body = b"x" * size
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unframed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    zip_file = remote.RemoteFile(key="a.zip", url=f"http://127.0.0.1:{server.server_address[1]}/a.zip", size=None,
                                 md5=None)
    try:
        if size > 1 << 20:
            with pytest.raises(DownloadError, match=r"sent more than the 1 MiB bound for this file: a wrong link"):
                remote.download(zip_file, tmp_path, retries=0, progress=False, max_bytes=1 << 20)
            assert list(tmp_path.iterdir()) == []
        else:  # what came is all there is to check: the caller checks its content
            got = remote.download(zip_file, tmp_path, retries=0, progress=False, max_bytes=1 << 20)
            assert got.read_bytes() == Unframed.body and got.name == "a.zip"
    finally:
        server.shutdown()
        server.server_close()


def test_truncated_download_is_resumed_within_the_run(server, manifest, tmp_path):
    size = (server.folder / ZIP).stat().st_size
    server.faults.cut_after[ZIP] = size // 2
    assert fetch_url(server, tmp_path, manifest, keep_archive=False).clips == {"audio_speech": 535}
    first, resumed = server.file_requests(ZIP)
    assert first is None and 0 < int(resumed.removeprefix("bytes=").removesuffix("-")) <= size // 2
    assert not (tmp_path / "archives" / emodb.ARCHIVE).exists()


def test_truncated_download_is_resumed_by_the_next_run(server, manifest, tmp_path):
    size = (server.folder / ZIP).stat().st_size
    server.faults.cut_after[ZIP] = size // 2
    with pytest.raises(DownloadError, match="connection .* the partial file .* is kept"):
        fetch_url(server, tmp_path, manifest, retries=0)
    assert not (tmp_path / "raw").exists() and (tmp_path / "archives" / f"{emodb.ARCHIVE}.part").is_file()
    fetch_url(server, tmp_path, manifest)
    assert server.file_requests(ZIP)[1].startswith("bytes=") and len(list((tmp_path / "raw").rglob("*.wav"))) == 535


def test_zip_missing_clips_is_refused_before_extracting_and_deleted(manifest, tmp_path):
    make_zip(tmp_path / ZIP, emodb_names()[:-1])
    with FakeZenodo(tmp_path) as fake, pytest.raises(CorruptDownloadError) as err:
        fetch_url(fake, tmp_path, manifest)
    assert isinstance(err.value.__cause__, MissingClipsError)
    assert str(err.value).startswith(f"{tmp_path / 'archives' / emodb.ARCHIVE} holds 534 of the 535 EmoDB "
                                     "audio_speech clips (1 missing): the copy is incomplete: the download was corrupt")
    assert nothing_left(tmp_path)


def test_zip_member_that_does_not_decode_is_refused_and_deleted(manifest, tmp_path):
    make_zip(tmp_path / ZIP, emodb_names(), damaged="03a01Wa")
    with FakeZenodo(tmp_path) as fake, pytest.raises(CorruptDownloadError, match=r"(?s)1 of 535 clips .* damaged:"
                                                                                 r"\n  .*: member wav/03a01Wa.wav: "
                                                                                 r"does not decode"
                                                                                 r".*\nthe download was corrupt;"):
        fetch_url(fake, tmp_path, manifest)
    assert nothing_left(tmp_path)


def test_zip_holding_a_clip_twice_is_refused(manifest, tmp_path):
    archive = make_zip(tmp_path / ZIP, emodb_names())
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("extra/wav/03a01Fa.wav", wav_bytes())
    with FakeZenodo(tmp_path) as fake, pytest.raises(CorruptDownloadError, match="03a01Fa appears twice"):
        fetch_url(fake, tmp_path, manifest)
    assert nothing_left(tmp_path)


def test_only_http_urls_and_folders_are_sources(tmp_path):
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
