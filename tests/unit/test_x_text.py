"""What the service sends on X: controls, bidirectional overrides and invisible spaces
taken out, line breaks as newlines, the rest as written."""

import pytest

from twittnow.x_text import clean

C0_BUT_TAB_AND_NEWLINE = [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]
C1 = [chr(code) for code in range(0x80, 0xA0)]
BIDI_EMBEDDINGS_AND_OVERRIDES = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e"]
BIDI_ISOLATES = ["\u2066", "\u2067", "\u2068", "\u2069"]
INVISIBLE = ["\u200b", "\u2060", "\ufeff"]  # zero-width space, word joiner, BOM


@pytest.mark.parametrize(
    "char",
    [
        *C0_BUT_TAB_AND_NEWLINE,
        "\x7f",
        *C1,
        *BIDI_EMBEDDINGS_AND_OVERRIDES,
        *BIDI_ISOLATES,
        *INVISIBLE,
    ],
    ids=lambda char: f"U+{ord(char):04X}",
)
def test_controls_and_bidi_overrides_are_taken_out(char):
    assert clean(f"Your refund{char} is on its way{char}") == "Your refund is on its way"


def test_a_reply_made_to_read_backwards_reads_as_written():
    # U+202E would show "txt.exe" as "exe.txt"; NUL and ESC would reach X as is.
    assert clean("Open invoice\u202etxt.exe\x00 now\x1b[2J") == "Open invoicetxt.exe now[2J"


@pytest.mark.parametrize(
    "text,sent",
    [
        ("Line one\r\nLine two", "Line one\nLine two"),
        ("Line one\rLine two", "Line one\nLine two"),
        ("Line one\n\n\tindented", "Line one\n\n\tindented"),
        ("Line one\u2028Line two\u2029Next paragraph", "Line one\nLine two\nNext paragraph"),
    ],
)
def test_line_breaks_and_tabs_are_kept(text, sent):
    assert clean(text) == sent


@pytest.mark.parametrize(
    "text",
    [
        "Refund of 5€ + shipping & tax: done, café owner ☕",
        "שלום, \u200fההזמנה שלך\u200e (CS0001005) נשלחה",  # right-to-left with its marks
        "\u0627\u061c\u0661\u0662",  # the Arabic letter mark
        "👩\u200d👩\u200d👧 family order",  # a zero-width joiner sequence
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with a non-joiner
        "Café\u0301 «quoted» — 日本語 🇫🇷",
        "",
    ],
)
def test_everything_else_is_sent_as_written(text):
    assert clean(text) == text


def test_a_text_of_controls_only_is_blank():
    assert clean("\x00\x1b\u202e\x7f") == ""
