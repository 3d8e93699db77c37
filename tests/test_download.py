"""The download stage against a real HTTP server on 127.0.0.1 serving a Zenodo-like record."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
import zipfile
from pathlib import Path

import pytest

from emo.core import metrics_detail
from emo.fetch.download import MissingClipsError, fetch
from emo.fetch.remote import DownloadError, SourceUnreachable
from emo.fetch.zenodo import parse_record
from fake_zenodo import AUDIO, FIXTURE_ACTORS, VIDEO_23, FakeZenodo, params
from project import copy_project, dvc, set_params


def digest_tree(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.*")}


def test_happy_path_gives_canonical_layout_identical_to_source(fake_zenodo, fixture_dataset, tmp_path):
    report = fetch(params(fake_zenodo.record_url), tmp_path / "raw", tmp_path / "archives", progress=False)

    assert report.clips == {"audio_speech": 240, "video_speech": 240}
    assert report.archives == [AUDIO] + [f"Video_Speech_Actor_{a:02d}.zip" for a in FIXTURE_ACTORS]
    assert digest_tree(tmp_path / "raw") == digest_tree(fixture_dataset)
    assert (tmp_path / "raw/audio_speech/Actor_21/03-01-08-02-02-02-21.wav").is_file()
    assert (tmp_path / "raw/video_speech/Actor_23/02-01-01-01-01-01-23.mp4").is_file()
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("*.tmp"))


def test_second_run_reuses_verified_archives_without_downloading(fake_zenodo, tmp_path):
    fetch(params(fake_zenodo.record_url), tmp_path / "raw", tmp_path / "archives", progress=False)
    downloads = len([p for p, _ in fake_zenodo.requests if "/files/" in p])
    fetch(params(fake_zenodo.record_url), tmp_path / "raw", tmp_path / "archives", progress=False)
    assert len([p for p, _ in fake_zenodo.requests if "/files/" in p]) == downloads == 5


def test_subset_of_actors_fetches_only_their_video(fake_zenodo, tmp_path):
    report = fetch(params(fake_zenodo.record_url, actors=(23,)), tmp_path / "raw", tmp_path / "a", progress=False)
    assert report.clips == {"audio_speech": 60, "video_speech": 60}
    assert report.archives == [AUDIO, VIDEO_23]


def test_resume_after_connection_cut_mid_file(fake_zenodo, zenodo_archives, tmp_path):
    size = (zenodo_archives / AUDIO).stat().st_size
    fake_zenodo.faults.cut_after[AUDIO] = size // 3

    fetch(params(fake_zenodo.record_url, parts=("audio_speech",)), tmp_path / "raw", tmp_path / "a",
          progress=False)

    first, resumed = fake_zenodo.file_requests(AUDIO)
    resumed_from = int(resumed.removeprefix("bytes=").removesuffix("-"))
    assert first is None and 0 < resumed_from <= size // 3  # what reached the disk before the cut
    assert fake_zenodo.bytes_sent[AUDIO] == size // 3 + size - resumed_from  # the second request sent the rest
    assert (tmp_path / "a" / AUDIO).read_bytes() == (zenodo_archives / AUDIO).read_bytes()


def test_partial_file_from_an_earlier_run_is_resumed(fake_zenodo, zenodo_archives, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / f"{AUDIO}.part").write_bytes((zenodo_archives / AUDIO).read_bytes()[:5000])
    fetch(params(fake_zenodo.record_url, parts=("audio_speech",)), tmp_path / "raw", tmp_path / "a",
          progress=False)
    assert fake_zenodo.file_requests(AUDIO) == ["bytes=5000-"]


def test_md5_mismatch_is_fetched_again(fake_zenodo, tmp_path):
    fake_zenodo.faults.corrupt_times[AUDIO] = 2
    report = fetch(params(fake_zenodo.record_url, parts=("audio_speech",)), tmp_path / "raw", tmp_path / "a",
                   progress=False)
    assert report.clips == {"audio_speech": 240}
    assert fake_zenodo.file_requests(AUDIO) == [None, None, None]


def test_persistent_md5_mismatch_fails_naming_the_file_and_leaves_nothing(fake_zenodo, tmp_path):
    fake_zenodo.faults.corrupt_times[AUDIO] = 99
    with pytest.raises(DownloadError, match=rf"{AUDIO}.*md5 .* does not match .* after 4 attempts"):
        fetch(params(fake_zenodo.record_url, parts=("audio_speech",)), tmp_path / "raw", tmp_path / "a",
              progress=False)
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()
    assert not list((tmp_path / "a").iterdir())


def test_corrupt_archive_on_disk_is_detected_and_fetched_again(fake_zenodo, zenodo_archives, tmp_path):
    (tmp_path / "a").mkdir()
    damaged = bytearray((zenodo_archives / AUDIO).read_bytes())
    damaged[1000] ^= 0xFF
    (tmp_path / "a" / AUDIO).write_bytes(bytes(damaged))
    fetch(params(fake_zenodo.record_url, parts=("audio_speech",)), tmp_path / "raw", tmp_path / "a",
          progress=False)
    assert fake_zenodo.file_requests(AUDIO) == [None]
    assert (tmp_path / "a" / AUDIO).read_bytes() == (zenodo_archives / AUDIO).read_bytes()


def test_server_error_is_retried_with_backoff(fake_zenodo, tmp_path):
    fake_zenodo.faults.fail_times[AUDIO] = 2
    report = fetch(params(fake_zenodo.record_url, parts=("audio_speech",), backoff_seconds=0.05),
                   tmp_path / "raw", tmp_path / "a", progress=False)
    assert report.clips == {"audio_speech": 240}
    assert len(fake_zenodo.file_requests(AUDIO)) == 3


def test_file_missing_from_the_record_is_named(zenodo_archives, tmp_path):
    with FakeZenodo(zenodo_archives, unlisted=(VIDEO_23,)) as server:
        with pytest.raises(MissingClipsError, match=VIDEO_23):
            fetch(params(server.record_url), tmp_path / "raw", tmp_path / "a", progress=False)


def test_file_listed_but_not_served_is_named(fake_zenodo, tmp_path):
    fake_zenodo.faults.missing.add(VIDEO_23)
    with pytest.raises(DownloadError, match=rf"HTTP 404 for {VIDEO_23}"):
        fetch(params(fake_zenodo.record_url), tmp_path / "raw", tmp_path / "a", progress=False)
    assert not (tmp_path / "raw").exists()


def test_archive_lacking_clips_stops_with_the_list(zenodo_archives, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for path in zenodo_archives.glob("*.zip"):
        (served / path.name).write_bytes(path.read_bytes())
    with zipfile.ZipFile(zenodo_archives / VIDEO_23) as full, \
            zipfile.ZipFile(served / VIDEO_23, "w") as short:
        for info in full.infolist():
            if "-01-02-23" not in info.filename:  # drop statement 01, repetition 02 of every emotion
                short.writestr(info, full.read(info))
    with FakeZenodo(served) as server:
        with pytest.raises(MissingClipsError) as caught:
            fetch(params(server.record_url), tmp_path / "raw", tmp_path / "a", progress=False)
    message = str(caught.value)
    assert "15 of 480 expected clips are missing" in message
    assert "video_speech/Actor_23/02-01-01-01-01-02-23" in message


def test_no_network_fails_fast_with_mirror_hint(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(SourceUnreachable, match=r"data\.source"):
        fetch(params(f"http://127.0.0.1:{port}/api/records/1188976"), tmp_path / "raw", tmp_path / "a",
              progress=False)
    assert time.monotonic() - start < 5  # no retry loop on an unreachable host
    assert not (tmp_path / "raw").exists()


def test_record_json_shapes():
    md5 = "0123456789abcdef0123456789ABCDEF"
    legacy = {"files": [{"key": "a.zip", "size": 3, "checksum": f"md5:{md5}",
                         "links": {"self": "https://zenodo.org/api/records/1/files/a.zip/content"}}]}
    rdm = {"files": {"entries": {"a.zip": {"key": "a.zip", "size": 3, "checksum": f"md5:{md5}",
                                           "links": {"content": "HTTPS://x/a.zip/content"}}}}}
    assert parse_record(legacy)["a.zip"].md5 == md5.lower()
    assert parse_record(rdm)["a.zip"].url == "HTTPS://x/a.zip/content"
    with pytest.raises(DownloadError, match="md5"):
        parse_record({"files": [{"key": "a.zip", "size": 3, "links": {"self": "https://x/a"}, "checksum": "sha1:00"}]})


# --- all or nothing under DVC ------------------------------------------------------------------------------


def cache_is_intact(project: Path) -> bool:
    """Whether every file in the project's DVC cache still hashes to its own name (nothing wrote into it)."""
    objects = [p for p in (project / ".dvc/cache/files/md5").rglob("*") if p.is_file() and p.suffix != ".dir"]
    return bool(objects) and all(
        hashlib.md5(p.read_bytes()).hexdigest() == p.parent.name + p.name for p in objects)


@pytest.mark.slow
def test_failed_dvc_repro_keeps_data_raw_and_a_good_one_replaces_it(fixture_dataset, tmp_path):
    source = tmp_path / "mirror"
    shutil.copytree(fixture_dataset / "audio_speech", source)
    project = copy_project(tmp_path / "project")
    set_params(project, data={"source": str(source), "parts": ["audio_speech"], "actors": [1, 2]})
    dvc(project, "repro", "download")  # the params stage's check first: the later `-s` runs need its output
    raw = project / "data/raw"
    before = digest_tree(raw)
    assert len(before) == 120 and next(raw.rglob("*.wav")).stat().st_nlink == 2  # linked into the cache

    (source / "Actor_02/03-01-05-01-01-01-02.wav").unlink()
    failed = dvc(project, "repro", "-f", "-s", "download", check=False)
    assert failed.returncode != 0 and "error: 1 of 120 expected clips are missing" in failed.stderr
    assert digest_tree(raw) == before  # the previous data/raw survives the failed run
    assert not (project / "data/.raw.partial").exists() and not (project / "data/.raw.old").exists()

    set_params(project, data={"actors": [2, 21]})
    shutil.copy(fixture_dataset / "audio_speech/Actor_02/03-01-05-01-01-01-02.wav", source / "Actor_02")
    dvc(project, "repro", "-s", "download")
    assert sorted(p.name for p in raw.iterdir()) == ["audio_speech"]
    assert sorted(p.name for p in (raw / "audio_speech").iterdir()) == ["Actor_02", "Actor_21"]  # replaced whole
    assert len(digest_tree(raw)) == 120 and cache_is_intact(project)
    assert json.loads(dvc(project, "status", "download", "--json").stdout) == {}


@pytest.mark.slow
def test_auto_source_without_a_mirror_downloads_from_zenodo_and_a_mirror_gives_the_same_data(
        fake_zenodo, fixture_dataset, tmp_path, monkeypatch):
    """A user's clone (no ../shared beside it) runs the download stage on the default data.source 'auto' against
    Zenodo (here the local one, through $EMO_ZENODO_API); with a mirror beside it, the same data/raw bit for bit."""
    monkeypatch.delenv("EMO_RAVDESS", raising=False)
    monkeypatch.setenv("EMO_ZENODO_API", fake_zenodo.api)
    project = copy_project(tmp_path / "project")
    assert not (tmp_path / "shared").exists()
    set_params(project, data={"source": "auto", "parts": ["audio_speech"], "actors": [1, 2], "retries": 1,
                              "backoff_seconds": 0.01})
    ran = dvc(project, "repro", "download")
    assert "data.source auto: Zenodo record 1188976" in ran.stdout and "no local mirror found" in ran.stdout
    assert fake_zenodo.file_requests(AUDIO) == [None]
    wanted = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for a in (1, 2) for p in (fixture_dataset / f"audio_speech/Actor_{a:02d}").iterdir()}
    assert digest_tree(project / "data/raw") == wanted and len(wanted) == 120
    recorded = metrics_detail.read(project / "metrics/download.json")
    assert recorded["setting"] == "auto" and recorded["route"] == "zenodo" and recorded["clips"] == 120
    assert recorded["source"] == f"{fake_zenodo.api}/1188976"

    shutil.copytree(fixture_dataset / "audio_speech", tmp_path / "shared/ravdess")  # our machines' layout
    ran = dvc(project, "repro", "-f", "-s", "download")
    assert "data.source auto: the local mirror ../shared/ravdess (found beside the project)" in ran.stdout
    assert fake_zenodo.file_requests(AUDIO) == [None]  # nothing more from Zenodo
    assert digest_tree(project / "data/raw") == wanted
    assert metrics_detail.read(project / "metrics/download.json")["route"] == "mirror"
