"""Text we print that came from outside (file names, parameter values, server replies): control characters
escaped and length capped, so an input can neither forge lines of our output nor flood it."""

from __future__ import annotations

import unicodedata

#: The longest echo of an outside value in a message; longer ones end in "…" with their full length said.
ECHO_LIMIT = 200

# Characters that move the cursor, rewrite the line or reorder what follows: a CR at the start of a file name
# can print a whole fake row over a real one. Categories Cc (C0, DEL, C1) and the bidi/line-separator formats.
_INVISIBLE = {"\u2028", "\u2029", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)),
              *map(chr, range(0x2066, 0x206A))}


def _escape(char: str) -> str:
    if char in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """`text` with every control character written as an escape (`\\r`, `\\n`, `\\x1b`, `\\u202e`): what a
    terminal, a log or a table shows is then what the string holds. Characters in `keep` stay as they are
    (a message's own line breaks)."""
    text = str(text)
    if text.isprintable() and not any(c in _INVISIBLE for c in text):
        return text  # the common case, without a pass per character
    return "".join(c if c in keep or not (unicodedata.category(c) == "Cc" or c in _INVISIBLE) else _escape(c)
                   for c in text)


def capped(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` cut to `limit` characters, ending in "…" and its full length when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """An outside value as a message shows it: escaped, then capped (a string as it is, anything else as repr)."""
    return capped(printable(value if isinstance(value, str) else repr(value)), limit)
