"""The download stage from a local mirror folder: any layout, read only, verified, complete; and how data.source 'auto'
finds one (emo.fetch.source)."""

import os
import shutil

import pytest

from emo.core.errors import EmoError
from emo.core.params import DataParams
from emo.core.ravdess import RavdessNameError
from emo.experiments.scratch import absolute_source
from emo.fetch import download, source
from emo.fetch.download import DuplicateClipError, MissingClipsError, fetch
from emo.fetch.refetch import advice
from emo.fetch.remote import DownloadError
from fake_zenodo import FIXTURE_ACTORS, tree_snapshot


def audio_params(source, **overrides):
    return DataParams(**{"source": str(source), "parts": ("audio_speech",), "actors": FIXTURE_ACTORS, **overrides})


@pytest.fixture
def flat_mirror(fixture_dataset, tmp_path):
    """The fixture's audio flattened into one folder, with a stray non-RAVDESS file beside it."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for path in (fixture_dataset / "audio_speech").rglob("*.wav"):
        shutil.copy(path, folder / path.name)
    (folder / "notes.txt").write_text("not a clip")
    (folder / "._03-01-01-01-01-01-01.wav").write_bytes(b"macOS resource fork")
    return folder


def test_any_layout_becomes_canonical_and_source_is_untouched(flat_mirror, tmp_path):
    before = tree_snapshot(flat_mirror)
    report = fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert report.clips == {"audio_speech": 240}
    assert len(list((tmp_path / "raw/audio_speech/Actor_02").glob("*.wav"))) == 60
    assert tree_snapshot(flat_mirror) == before


def test_video_parts_from_a_folder(fixture_dataset, tmp_path):
    params = DataParams(source=str(fixture_dataset), parts=("video_speech",), actors=(21,))
    report = fetch(params, tmp_path / "raw", tmp_path / "a", progress=False)
    assert report.clips == {"video_speech": 60}


def test_missing_clip_is_listed(flat_mirror, tmp_path):
    (flat_mirror / "03-01-04-02-01-01-21.wav").unlink()
    expected = r"(?s)1 of 240 expected clips .*audio_speech/Actor_21/03-01-04-02-01-01-21"
    with pytest.raises(MissingClipsError, match=expected):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert not (tmp_path / "raw").exists()


def test_malformed_name_in_the_mirror_is_named(flat_mirror, tmp_path):
    (flat_mirror / "03-01-09-01-01-01-01.wav").write_bytes(b"")
    with pytest.raises(RavdessNameError, match=r"mirror/03-01-09-01-01-01-01.wav.*emotion 09"):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)


def test_same_clip_twice_is_refused(flat_mirror, tmp_path):
    shutil.copy(flat_mirror / "03-01-03-01-01-01-01.wav", flat_mirror / "03-01-03-01-01-01-01.flac")
    with pytest.raises(DuplicateClipError, match="03-01-03-01-01-01-01 appears twice"):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)


def test_manifest_checksums_are_verified(flat_mirror, tmp_path):
    name = "03-01-03-01-01-01-01.wav"
    (flat_mirror / "MANIFEST.tsv").write_text(f"path\tsha256\n{name}\t{'0' * 64}\n")
    with pytest.raises(DownloadError, match=rf"{name}: sha256 .* does not match the mirror's MANIFEST"):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert not (tmp_path / "raw").exists()


def test_failed_run_keeps_the_previous_output(flat_mirror, tmp_path):
    fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    (flat_mirror / "03-01-04-02-01-01-21.wav").unlink()
    with pytest.raises(MissingClipsError):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert len(list((tmp_path / "raw").rglob("*.wav"))) == 240


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="no such folder"):
        fetch(audio_params(tmp_path / "nowhere"), tmp_path / "raw", tmp_path / "a", progress=False)


def test_run_killed_between_the_two_renames_gets_the_previous_output_back(flat_mirror, tmp_path):
    fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    (tmp_path / "raw").rename(tmp_path / ".raw.old")  # where a kill between the renames leaves it
    (flat_mirror / "03-01-04-02-01-01-21.wav").unlink()
    with pytest.raises(MissingClipsError):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert len(list((tmp_path / "raw").rglob("*.wav"))) == 240 and not (tmp_path / ".raw.old").exists()


def test_success_replaces_read_only_cache_links_without_writing_into_them(flat_mirror, tmp_path):
    raw = tmp_path / "raw"
    fetch(audio_params(flat_mirror, actors=(1,)), raw, tmp_path / "a", progress=False)
    cache = tmp_path / "cache"  # stands for DVC's cache: data/raw's files are read-only hardlinks into it
    cache.mkdir()
    for path in raw.rglob("*.wav"):
        os.link(path, cache / path.name)
        path.chmod(0o444)
    before = tree_snapshot(cache)
    fetch(audio_params(flat_mirror, actors=(2,)), raw, tmp_path / "a", progress=False)
    assert [p.name for p in (raw / "audio_speech").iterdir()] == ["Actor_02"]  # replaced whole
    assert tree_snapshot(cache) == before and not (tmp_path / ".raw.old").exists()


def test_clip_past_the_size_bound_is_refused(flat_mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_CLIP_BYTES", 1000)
    with pytest.raises(DownloadError, match=r"mirror/03-01-.*\.wav: more than 1000 bytes, over the size bound"):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()


def test_unreadable_manifest_is_one_line(flat_mirror, tmp_path):
    (flat_mirror / "MANIFEST.tsv").write_bytes(b"path\tsha256\n\xff\xfe\x00 not text\n")
    with pytest.raises(EmoError, match=r"MANIFEST.tsv: unreadable \(UnicodeDecodeError"):
        fetch(audio_params(flat_mirror), tmp_path / "raw", tmp_path / "a", progress=False)


# --- data.source auto -----------------------------------------------------------------------------------------


@pytest.fixture
def beside(tmp_path):
    """A project folder with our machines' mirror beside it (../shared/ravdess)."""
    (tmp_path / "shared/ravdess").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


def resolve(setting, root, **environ):
    return source.resolve(setting, record=1188976, root=root, environ=environ)


def test_auto_takes_the_folder_in_emo_ravdess_first(beside, flat_mirror):
    found = resolve("auto", beside, EMO_RAVDESS=str(flat_mirror))
    assert (found.source, found.route) == (str(flat_mirror), "mirror")
    assert found.reason == f"data.source auto: the local mirror {flat_mirror} (${source.MIRROR_ENV})"


def test_auto_refuses_an_emo_ravdess_that_is_not_a_folder(beside, tmp_path):
    (tmp_path / "file").write_text("")
    for chosen in (tmp_path / "nowhere", tmp_path / "file"):
        with pytest.raises(source.SourceError, match=rf"^\$EMO_RAVDESS={chosen}: no such folder; point it at"):
            resolve("auto", beside, EMO_RAVDESS=str(chosen))


def test_auto_takes_the_mirror_beside_the_project_then_zenodo(beside, tmp_path):
    found = resolve("auto", beside)
    assert (found.source, found.route) == ("../shared/ravdess", "mirror")
    assert found.reason == "data.source auto: the local mirror ../shared/ravdess (found beside the project)"
    assert (beside / found.source).resolve() == (tmp_path / "shared/ravdess").resolve()

    (tmp_path / "shared/ravdess").rmdir()
    found = resolve("auto", beside)
    assert (found.source, found.route) == ("https://zenodo.org/api/records/1188976", "zenodo")
    assert found.reason.startswith("data.source auto: Zenodo record 1188976")
    assert found.reason.endswith("(no local mirror found; set EMO_RAVDESS=/path to use one)")
    assert "\n" not in found.reason
    assert resolve("auto", beside, EMO_ZENODO_API="http://127.0.0.1:9/api/records/").source == \
        "http://127.0.0.1:9/api/records/1188976"


def test_explicit_sources_mean_what_they_say(beside, flat_mirror):
    env = {"EMO_RAVDESS": str(flat_mirror)}  # only 'auto' reads it
    assert resolve("zenodo", beside, **env).source == "https://zenodo.org/api/records/1188976"
    assert resolve("zenodo", beside, EMO_ZENODO_API="http://m/api/records").source == "http://m/api/records/1188976"
    assert resolve("https://m/api/records/7", beside, **env).source == "https://m/api/records/7"
    assert resolve("../elsewhere", beside, **env).source == "../elsewhere"
    assert resolve("../elsewhere", beside).route == "folder" and resolve("x:y", beside).route == "folder"


def test_a_scratch_copy_of_the_project_sees_the_mirror_auto_found(beside, tmp_path, monkeypatch):
    monkeypatch.delenv("EMO_RAVDESS", raising=False)
    monkeypatch.delenv("EMO_ZENODO_API", raising=False)
    data = {"data": {"source": "auto", "record": 1188976}}
    assert absolute_source(beside, data) == {"data": {"source": str((tmp_path / "shared/ravdess").resolve())}}
    (tmp_path / "shared/ravdess").rmdir()
    assert absolute_source(beside, data) == {}  # 'auto' stays: Zenodo from anywhere


def test_damaged_clip_advice_follows_what_auto_found(beside, tmp_path, monkeypatch):
    monkeypatch.delenv("EMO_RAVDESS", raising=False)
    monkeypatch.delenv("EMO_ZENODO_API", raising=False)
    monkeypatch.chdir(beside)  # stages run in the project's root
    clip = "data/raw/audio_speech/Actor_01/03-01-01-01-01-01-01.wav"
    assert "in the mirror ../shared/ravdess" in advice(clip, "auto", "audio")
    (tmp_path / "shared/ravdess").rmdir()
    assert "delete data/archives/Audio_Speech_Actors_01-24.zip" in advice(clip, "auto", "audio")
