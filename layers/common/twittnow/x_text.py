"""Text as the service sends it to X: characters a reader would not see, or that would make
the rest read in another order than it was written, are taken out; everything else is
sent as written.

Taken out: the C0 controls but tab and newline (NUL, ESC, ...), DEL, the C1 controls, and
the bidirectional embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069),
which can make a reply show something else than its text says (Unicode UAX #9; "Trojan
Source", CVE-2021-42574); and the invisible zero-width space, word joiner and byte order
mark (U+200B, U+2060, U+FEFF), which text pasted from documents carries and which would
split a word or a link on X where the reader sees none. A carriage return, and the line
and paragraph separators (U+2028, U+2029, which some editors write for a line break),
become a newline (ServiceNow's journal keeps the CRLF of the agent's browser). Kept: the
left-to-right, right-to-left and Arabic letter marks (U+200E, U+200F, U+061C), which
only set the direction of the neutral characters around them and which right-to-left
writing needs; and the zero-width joiner and non-joiner (U+200D, U+200C), which emoji
sequences and Persian writing need.
"""

_REMOVED = dict.fromkeys(
    [
        *range(0x09),
        0x0B,
        0x0C,
        *range(0x0E, 0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x200B,
        0x2060,
        0xFEFF,
    ]
) | {0x2028: "\n", 0x2029: "\n"}


def clean(text: str) -> str:
    """`text` as it may be sent to X."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_REMOVED)
