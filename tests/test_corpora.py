"""The corpus layer: each corpus's file names in the shared columns, on real folders and on generated names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emo.core.errors import EmoError
from emo.core.ravdess import expected_clips
from emo.corpora import CORPORA, SHARED_EMOTIONS, cremad, emodb, ravdess, savee, tess
from emo.corpora.listing import UnparsedClipsError, check_count, inventory
from emo.fetch.download import DuplicateClipError, MissingClipsError
from shared_data import SHARED, require


def touch(folder: Path, *names: str) -> Path:
    """Empty files at `names` under `folder`: the corpus layer reads names only."""
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).touch()
    return folder


def test_registry_holds_five_corpora_with_their_complete_sizes():
    assert list(CORPORA) == ["ravdess", "emodb", "tess", "cremad", "savee"]
    assert CORPORA["ravdess"].expected == {"audio_speech": 1440, "audio_song": 1012}
    assert {n: c.expected_count for n, c in CORPORA.items()} == {
        "ravdess": 2452, "emodb": 535, "tess": 2800, "cremad": 7442, "savee": 480}


def test_labels_are_the_shared_names_except_emodb_boredom():
    for corpus in CORPORA.values():
        own = set(corpus.labels) - set(SHARED_EMOTIONS)
        assert own == ({"boredom"} if corpus.name == "emodb" else set()), corpus.name
    assert set(CORPORA["savee"].labels) == set(SHARED_EMOTIONS) - {"calm"}


def test_official_sources():
    sources = {n: c.source for n, c in CORPORA.items()}
    assert all(s.page.startswith(("http://", "https://")) and s.how for s in sources.values())
    assert sources["emodb"].download == "http://emodb.bilderbar.info/download/download.zip"
    assert sources["tess"].page == "https://doi.org/10.5683/SP2/E8H2MF"
    assert sources["cremad"].page == "https://github.com/CheyneyComputerScience/CREMA-D"
    assert sources["savee"].download is None  # registration only: a folder


def test_real_emodb_folder_parses_with_the_readme_counts():
    folder = require(SHARED / "emodb" / "MANIFEST.tsv", "the EmoDB mirror").parent
    clips = inventory(folder, CORPORA["emodb"])
    check_count(clips, CORPORA["emodb"], str(folder))
    assert len(clips) == 535 and {c.corpus for c in clips} == {"emodb"}
    assert Counter(c.emotion for c in clips) == {"angry": 127, "boredom": 81, "disgust": 46, "fearful": 69,
                                                 "happy": 71, "sad": 62, "neutral": 79}
    genders = {c.speaker: c.gender for c in clips}
    assert len(genders) == 10
    assert sorted(s for s, g in genders.items() if g == "male") == [f"emodb:{s}" for s in ("03", "10", "11", "12",
                                                                                         "15")]
    assert len({c.sentence for c in clips}) == 10 and all(c.path.endswith(".flac") for c in clips)
    first = clips[0]
    assert (first.clip, first.sentence, first.take) == ("03a01Fa", "Der Lappen liegt auf dem Eisschrank.", "a")


def test_real_ravdess_mirror_parses():
    folder = require(SHARED / "ravdess" / "MANIFEST.tsv", "the RAVDESS mirror").parent
    clips = inventory(folder, CORPORA["ravdess"])
    check_count(clips, CORPORA["ravdess"], str(folder), parts=("audio_speech",))
    assert len({c.speaker for c in clips}) == 24
    assert all(c.gender == ("male" if int(c.speaker[-2:]) % 2 else "female") for c in clips)
    assert Counter(c.sentence for c in clips) == {"Kids are talking by the door": 720,
                                                   "Dogs are sitting by the door": 720}


def test_ravdess_song_and_speech_from_generated_names(tmp_path):
    names = [f"{c.stem}.wav" for part in ravdess.PARTS for c in expected_clips(part)]
    clips = inventory(touch(tmp_path, *(f"Actor_{n[-6:-4]}/{n}" for n in names)), CORPORA["ravdess"])
    check_count(clips, CORPORA["ravdess"], str(tmp_path))
    song = [c for c in clips if c.part == "audio_song"]
    assert len(song) == 1012 and {c.emotion for c in song} == set(SHARED_EMOTIONS[:6])
    assert "ravdess:18" not in {c.speaker for c in song}
    assert ravdess.parse(Path("02-02-05-02-02-01-03.mp4")).part == "video_song"  # for the inventory's video rows
    strong = next(c for c in song if c.clip == "03-02-05-02-02-01-03")
    assert (strong.emotion, strong.intensity, strong.take, strong.gender, strong.sentence) == (
        "angry", "strong", "01", "male", "Dogs are sitting by the door")


def test_ravdess_names_that_do_not_fit_are_named(tmp_path):
    touch(tmp_path, "03-02-07-01-01-01-01.wav", "02-01-01-01-01-01-01.wav", "03-01-01-01-01-01-01.wav",
          "02-01-01-01-01-01-01.mp4", "notes.txt")  # mp4 and txt are not audio clips: ignored
    with pytest.raises(UnparsedClipsError, match=r"(?s)2 of 3 audio files.*02-01-01-01-01-01-01.wav: .*suffix"
                                                 r".*03-02-07-01-01-01-01.wav: .*07 does not exist in song"):
        inventory(tmp_path, CORPORA["ravdess"])


@pytest.mark.parametrize("name, expected", [
    ("03a01Fa.wav", ("emodb:03", "male", "happy", "Der Lappen liegt auf dem Eisschrank.", "a")),
    ("16b10Lb.flac", ("emodb:16", "female", "boredom", "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
                      "b")),
    ("08a05Ac.wav", ("emodb:08", "female", "fearful",
                     "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.", "c")),
])
def test_emodb_names(name, expected):
    u = emodb.parse(Path("wav") / name)
    assert (u.speaker, u.gender, u.emotion, u.sentence, u.take) == expected


@pytest.mark.parametrize("name, problem", [
    ("04a01Fa.wav", "speaker '04'"), ("03a03Fa.wav", "text code 'a03'"), ("03a01Xa.wav", "emotion letter 'X'"),
    ("03a01F.wav", "not an EmoDB file name"), ("3a01Fa.wav", "not an EmoDB file name"),
])
def test_bad_emodb_names_are_named(tmp_path, name, problem):
    touch(tmp_path, "wav/03a01Fa.wav", f"wav/{name}")
    with pytest.raises(UnparsedClipsError, match=rf"(?s)1 of 2 audio files.*wav/{name}: .*{problem}.*03a01Fa.wav"):
        inventory(tmp_path, CORPORA["emodb"])


def test_the_same_clip_twice_is_refused(tmp_path):
    touch(tmp_path, "wav/03a01Fa.wav", "flac/03a01Fa.flac")
    with pytest.raises(DuplicateClipError, match=r"03a01Fa appears twice.*flac/03a01Fa.flac and .*wav/03a01Fa.wav"):
        inventory(tmp_path, CORPORA["emodb"])


def test_a_folder_without_clips_or_no_folder_is_refused(tmp_path):
    with pytest.raises(MissingClipsError, match="holds no TESS clips"):
        inventory(touch(tmp_path, "readme.txt"), CORPORA["tess"])
    with pytest.raises(EmoError, match="no such folder"):
        inventory(tmp_path / "absent", CORPORA["tess"])


def test_many_bad_names_are_counted_after_the_first_ten(tmp_path):
    touch(tmp_path, *(f"clip{i:02d}.wav" for i in range(15)))
    with pytest.raises(UnparsedClipsError, match=r"(?s)15 of 15 .*clip09.wav.*\.\.\. and 5 more") as err:
        inventory(tmp_path, CORPORA["savee"])
    assert "clip10.wav" not in str(err.value)


TESS_FOLDERS = {"angry": "{s}_angry", "disgust": "{s}_disgust", "fear": "{s}_Fear", "happy": "{s}_happy",
                "neutral": "{s}_neutral", "ps": "{s}_pleasant_surprised", "sad": "{s}_Sad"}


def test_tess_in_its_distributed_layout(tmp_path):
    words = [f"w{i:03d}" for i in range(tess.WORDS)]
    names = [f"{TESS_FOLDERS[e].format(s=s)}/{s}_{w}_{e}.wav" for s in tess.SPEAKERS for e in tess.EMOTIONS
             for w in words]
    names[0] = "OAF_angry/OAF_W000_Angry.WAV"  # the distribution mixes cases
    names[names.index("OAF_neutral/OAF_w007_neutral.wav")] = "OAF_neutral/OA_w007_neutral.wav"  # its one cut name
    clips = inventory(touch(tmp_path, *names), CORPORA["tess"])
    check_count(clips, CORPORA["tess"], str(tmp_path))
    assert Counter(c.speaker for c in clips) == {"tess:OAF": 1400, "tess:YAF": 1400}
    assert Counter(c.emotion for c in clips) == {e: 400 for e in tess.EMOTIONS.values()}
    assert {c.gender for c in clips} == {"female"}
    by_clip = {c.clip: c for c in clips}
    assert by_clip["OAF_w000_angry"].sentence == "Say the word w000"
    assert by_clip["OAF_w007_neutral"].path.endswith("OAF_neutral/OA_w007_neutral.wav")
    assert by_clip["YAF_w199_ps"].emotion == "surprised"


def test_bad_tess_names_are_named(tmp_path):
    touch(tmp_path, "OAF_back_angry.wav", "OAF_back_calm.wav", "XAF_back_angry.wav", "misc/OA_bite_neutral.wav",
          "OAF-back-angry.wav")
    with pytest.raises(UnparsedClipsError) as err:
        inventory(tmp_path, CORPORA["tess"])
    message = str(err.value)
    assert message.startswith("4 of 5 audio files")
    for expected in ("OAF_back_calm.wav: invalid TESS name: emotion 'calm'", "XAF_back_angry.wav: invalid TESS name:"
                     " speaker 'XAF'", "misc/OA_bite_neutral.wav: invalid TESS name: speaker 'OA'",
                     "OAF-back-angry.wav: not a TESS file name"):
        assert expected in message


def test_tess_case_variants_of_one_clip_are_one_clip_twice(tmp_path):
    touch(tmp_path, "a/OAF_back_angry.wav", "b/oaf_BACK_angry.wav")
    with pytest.raises(DuplicateClipError, match="OAF_back_angry appears twice"):
        inventory(tmp_path, CORPORA["tess"])


DEMOGRAPHICS = '"ActorID","Age","Sex","Race","Ethnicity"\n1001,51,"Male","Caucasian","Not Hispanic"\n' \
               '1002,21,"Female","Caucasian","Not Hispanic"\n'


def test_cremad_names_and_genders_from_its_speaker_table(tmp_path, caplog):
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav", "AudioWAV/1040_ITH_SAD_X.wav",
          "AudioMP3/1001_DFA_ANG_XX.mp3")  # the repository's mp3 copies are not clips
    with caplog.at_level("WARNING", logger="emo.corpora.listing"):
        clips = inventory(tmp_path, CORPORA["cremad"])
    assert [c.gender for c in clips] == ["?", "?", "?"] and "VideoDemographics.csv tells it" in caplog.text
    (tmp_path / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    first, second, odd = inventory(tmp_path, CORPORA["cremad"])
    assert (first.speaker, first.gender, first.emotion, first.sentence, first.intensity) == (
        "cremad:1001", "male", "angry", "Don't forget a jacket", "unspecified")
    assert (second.gender, second.emotion, second.sentence, second.intensity) == (
        "female", "happy", "It's eleven o'clock", "high")
    assert (odd.clip, odd.gender, odd.emotion, odd.intensity) == ("1040_ITH_SAD_XX", "?", "sad", "unspecified")


@pytest.mark.parametrize("name, problem", [
    ("0999_IEO_ANG_HI", "actor 0999"), ("1001_ABC_ANG_XX", "sentence 'ABC'"), ("1001_IEO_JOY_HI", "emotion 'JOY'"),
    ("1001_IEO_ANG_VH", "level 'VH'"), ("1001_IEO_ANG", "not a CREMA-D file name"),
])
def test_bad_cremad_names_are_named(name, problem):
    with pytest.raises(EmoError, match=rf"{name}.wav: .*{problem}"):
        cremad.parse(Path(f"{name}.wav"))


def test_savee_in_speaker_folders_and_flat(tmp_path):
    names = [f"AudioData/{s}/{code}{n:02d}.wav" for s in savee.SPEAKERS for code, top in savee.SENTENCES.items()
             for n in range(1, top + 1)]
    clips = inventory(touch(tmp_path / "folders", *names), CORPORA["savee"])
    check_count(clips, CORPORA["savee"], "folders")
    assert Counter(c.emotion for c in clips) == {"neutral": 120, **{e: 60 for e in SHARED_EMOTIONS[2:]}}
    assert {c.gender for c in clips} == {"male"} and len({c.speaker for c in clips}) == 4
    flat = inventory(touch(tmp_path / "flat", "ALL/DC_a01.wav", "ALL/JE_sa03.wav", "ALL/KL_su15.wav"),
                     CORPORA["savee"])
    assert [(c.clip, c.speaker, c.emotion, c.sentence) for c in flat] == [
        ("DC_a01", "savee:DC", "angry", "a01"), ("JE_sa03", "savee:JE", "sad", "sa03"),
        ("KL_su15", "savee:KL", "surprised", "su15")]


@pytest.mark.parametrize("name, problem", [
    ("ALL/DC_x01.wav", "emotion code 'x'"), ("ALL/DC_n31.wav", "sentence 31"), ("ALL/DC_a16.wav", "sentence 16"),
    ("ALL/XX_a01.wav", "speaker 'XX'"), ("misc/a01.wav", "speaker folder 'misc'"),
    ("ALL/DC_a1.wav", "not a SAVEE file name"),
])
def test_bad_savee_names_are_named(name, problem):
    with pytest.raises(EmoError, match=rf"{name}: .*{problem}"):
        savee.parse(Path(name))
