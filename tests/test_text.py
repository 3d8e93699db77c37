"""emo.core.text: outside text escaped and capped before we print it."""

import pytest

from emo.core.text import ECHO_LIMIT, capped, echo, printable


@pytest.mark.parametrize("raw, shown", [
    ("happy\r", "happy\\r"), ("a\nb", "a\\nb"), ("\x1b[2J", "\\x1b[2J"), ("x\x7fy", "x\\x7fy"),
    ("\x85", "\\x85"), ("evil\u202etxt.wav", "evil\\u202etxt.wav"), ("line\u2028", "line\\u2028"),
])
def test_control_characters_are_escaped(raw, shown):
    assert printable(raw) == shown


def test_printable_text_is_unchanged_and_kept_characters_stay():
    assert printable("Ünïcödé 日本語 clip-01.wav") == "Ünïcödé 日本語 clip-01.wav"
    assert printable("one\ntwo\r", keep="\n") == "one\ntwo\\r"


def test_long_values_are_capped_with_their_length():
    assert capped("x" * ECHO_LIMIT) == "x" * ECHO_LIMIT
    long = capped("y" * 1_000_000)
    assert long.startswith("y" * ECHO_LIMIT + "…") and "1,000,000 characters" in long and len(long) < ECHO_LIMIT + 40


def test_echo_escapes_then_caps_any_value():
    assert echo("a\rb") == "a\\rb"
    assert echo([0, 0]) == "[0, 0]"
    assert len(echo(list(range(100_000)))) < ECHO_LIMIT + 40
