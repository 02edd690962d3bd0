"""Unit tests of the emulator core (`Emulator`) and the key encoder: modes, replies, scrollback, resize, keys."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from widgets.terminal.emulator import Emulator
from widgets.terminal.keys import PASTE_END, PASTE_START, encode_key, encode_paste
from widgets.terminal.scrollback import entry_segments
from widgets.terminal.styles import BOLD, RGB, UNDERLINE


def feed(s: Emulator, text: str) -> Emulator:
    s.feed(text.encode())
    return s


def rows(s: Emulator) -> list[str]:
    return [r.rstrip() for r in s.display()]


def history_text(s: Emulator) -> list[str]:
    return ["".join(t for t, _ in entry_segments(e, s.cols)).rstrip() for e in s.history]


def test_replies_to_status_and_attribute_queries() -> None:
    s = feed(Emulator(80, 24), "ab\r\ncd\x1b[5n\x1b[6n\x1b[c\x1b[>c")
    assert s.take_replies() == b"\x1b[0n\x1b[2;3R\x1b[?62;22c\x1b[>1;10;0c"
    assert s.take_replies() == b""


def test_alternate_screen_restores_the_shell_screen_and_cursor() -> None:
    s = feed(Emulator(20, 5), "$ vim\r\n")
    feed(s, "\x1b[?1049h\x1b[2J\x1b[Hvim stuff\x1b[3;3H")
    assert s.in_alt and rows(s)[0] == "vim stuff"
    feed(s, "\x1b[?1049l")
    assert not s.in_alt and rows(s)[0] == "$ vim" and (s.x, s.y) == (0, 1)
    assert len(s.history) == 0  # nothing of the alternate screen leaks into the scrollback


def test_modes_title_and_cursor_shape() -> None:
    s = feed(Emulator(), "\x1b[?1h\x1b[?2004h\x1b[?25l\x1b[5 q\x1b]2;build log\x07\x1b=")
    assert s.app_cursor and s.bracketed_paste and not s.cursor_visible and s.app_keypad
    assert s.cursor_shape == 5 and s.title == "build log"
    feed(s, "\x1b[?1l\x1b[?2004l\x1b[?25h\x1b>")
    assert not (s.app_cursor or s.bracketed_paste or s.app_keypad) and s.cursor_visible


def test_sgr_256_truecolour_and_attributes() -> None:
    s = feed(Emulator(), "\x1b[1;4;38;5;196;48;2;1;2;3mX\x1b[22;24;39;49mY\x1b[38:2::10:20:30mZ")
    st = s.cell(0, 0)[1]
    assert st.fg == 196 and st.bg == RGB | 0x010203 and st.flags & BOLD and st.flags & UNDERLINE
    assert s.cell(1, 0)[1].fg == -1 and s.cell(1, 0)[1].flags == 0
    assert s.cell(2, 0)[1].fg == RGB | (10 << 16) | (20 << 8) | 30


def test_wide_and_combining_characters() -> None:
    s = feed(Emulator(6, 3), "a中e\u0301文x")
    assert s.lines[0].chars[:6] == ["a", "中", "", "e\u0301", "文", ""]
    assert rows(s)[1] == "x"  # 文 filled the line exactly; x wrapped


def test_insert_delete_characters_like_xterm() -> None:
    s = feed(Emulator(10, 2), "abcdefghij\x1b[1;7H\x1b[3@")
    assert rows(s)[0] == "abcdef   g"
    feed(s, "\x1b[1;2H\x1b[2P")
    assert rows(s)[0] == "adef   g"


def test_scroll_region_and_insert_delete_lines() -> None:
    s = feed(Emulator(10, 5), "1\r\n2\r\n3\r\n4\r\n5\x1b[2;4r\x1b[4;1H\r\nX")
    assert rows(s) == ["1", "3", "4", "X", "5"]
    feed(s, "\x1b[2;1H\x1b[L")
    assert rows(s) == ["1", "", "3", "4", "5"]


def test_scrollback_flood_path_equals_line_by_line_path() -> None:
    rnd = random.Random(1)
    colours = ["", "\x1b[31m", "\x1b[1;38;5;40m", "\x1b[48;2;9;9;9m"]
    lines = [f"{rnd.choice(colours)}line {i} {'w' * rnd.randrange(30)}\x1b[0m" for i in range(3000)]
    data = ("\r\n".join(lines) + "\r\n").encode()
    bulk = Emulator(40, 10, scrollback=500)
    bulk.feed(data)
    slow = Emulator(40, 10, scrollback=500)
    for i in range(0, len(data), 97):
        slow.feed(data[i : i + 97])
    assert bulk.display() == slow.display()
    assert history_text(bulk) == history_text(slow)
    assert [entry_segments(e, 40) for e in bulk.history][-50:] == [entry_segments(e, 40) for e in slow.history][-50:]


def test_scrollback_limit_and_resize_pulls_lines_back() -> None:
    s = Emulator(20, 5, scrollback=100)
    s.feed(b"".join(b"row %d\r\n" % i for i in range(300)))
    assert len(s.history) == 100 and history_text(s)[-1] == "row 295"
    s.resize(20, 8)
    assert rows(s)[:4] == ["row 293", "row 294", "row 295", "row 296"] and len(s.history) == 97
    s.resize(10, 3)
    assert all(len(line.chars) == 10 for line in s.lines) and s.y == 2


def test_scrollback_keeps_every_line_in_order_through_packing_resizes_and_clears() -> None:
    """Lines are packed in place some time after they scroll off; the bookkeeping that finds them must survive the
    flood path's bulk pushes (plain and coloured), lines pulled back by a taller resize, and ESC[3J."""
    rnd = random.Random(5)
    s = Emulator(30, 6, scrollback=700)
    sent = 0

    def out(n: int, chunk: int, styled: bool = True) -> None:
        nonlocal sent
        styles = ["", "\x1b[31m", "\x1b[1;4m"] if styled else [""]
        data = "".join(f"{rnd.choice(styles)}n{i}\x1b[0m\r\n" for i in range(sent, sent + n)).encode()
        if not styled:
            data = data.replace(b"\x1b[0m", b"")
        sent += n
        for i in range(0, len(data), chunk):
            s.feed(data[i : i + chunk])

    def check() -> None:
        got = [t for t in [*history_text(s), *rows(s)] if t]
        assert got == [f"n{i}" for i in range(sent)][-len(got) :], f"after n{sent - 1}"

    for n, chunk, styled in [(300, 37, True), (2000, 1 << 20, True), (150, 53, True), (2000, 1 << 20, False)]:
        out(n, chunk, styled)  # line by line (packed in batches as they age), then the flood path in bulk
        check()
    out(290, 41)
    s.resize(30, 20)  # pulls 14 lines back out of the scrollback, some not packed yet
    check()
    for _ in range(5):
        out(120, 29)  # fewer than the scrollback holds: the lines around the pull are still there
        check()
    assert all(isinstance(e, (str, tuple)) for e in list(s.history)[:-300])  # the older ones are packed
    s.feed(b"\x1b[3J")
    assert len(s.history) == 0
    out(400, 29)
    check()


def test_ten_thousand_lines_of_scrollback_fit_in_30_mb() -> None:
    line = "\x1b[2m10:00:00\x1b[0m \x1b[32mINFO\x1b[0m \x1b[38;5;99m[svc]\x1b[0m \x1b[38;2;1;2;3m" + "msg " * 40
    data = "".join(f"{line}{i}\x1b[0m\r\n" for i in range(12_000)).encode()
    for chunk in (1 << 20, 1500):  # the flood path and the line-by-line path
        tracemalloc.start()
        s = Emulator(200, 50, scrollback=10_000)
        for i in range(0, len(data), chunk):
            s.feed(data[i : i + chunk])
        s.pack_history()
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(s.history) == 10_000
        assert used < 30e6, f"{used / 1e6:.1f} MB with {chunk}-byte reads"


@pytest.mark.parametrize(
    ("key", "char", "app", "expected"),
    [
        ("up", None, False, b"\x1b[A"),
        ("up", None, True, b"\x1bOA"),
        ("ctrl+left", None, False, b"\x1b[1;5D"),
        ("shift+up", None, True, b"\x1b[1;2A"),
        ("home", None, False, b"\x1b[H"),
        ("end", None, True, b"\x1bOF"),
        ("pageup", None, False, b"\x1b[5~"),
        ("delete", None, False, b"\x1b[3~"),
        ("insert", None, False, b"\x1b[2~"),
        ("f1", None, False, b"\x1bOP"),
        ("f5", None, False, b"\x1b[15~"),
        ("f12", None, False, b"\x1b[24~"),
        ("ctrl+f5", None, False, b"\x1b[15;5~"),
        ("enter", "\r", False, b"\r"),
        ("backspace", None, False, b"\x7f"),
        ("ctrl+h", None, False, b"\x08"),
        ("tab", "\t", False, b"\t"),
        ("shift+tab", None, False, b"\x1b[Z"),
        ("escape", None, False, b"\x1b"),
        ("ctrl+c", None, False, b"\x03"),
        ("ctrl+a", None, False, b"\x01"),
        ("ctrl+z", None, False, b"\x1a"),
        ("ctrl+backslash", None, False, b"\x1c"),
        ("ctrl+space", None, False, b"\x00"),
        ("alt+x", "x", False, b"\x1bx"),
        ("alt+backspace", None, False, b"\x1b\x7f"),
        ("a", "a", False, b"a"),
        ("é", "é", False, "é".encode()),
        ("shift+f1", None, False, b"\x1b[1;2P"),
        ("f13", None, False, b"\x1b[1;2P"),
    ],
)
def test_key_encoding(key: str, char: str | None, app: bool, expected: bytes) -> None:
    assert encode_key(key, char, app_cursor=app) == expected


def test_paste_encoding() -> None:
    assert encode_paste("a\nb", bracketed=False) == b"a\rb"
    evil = "ls\x1b[201~rm -rf x\n"
    out = encode_paste(evil, bracketed=True)
    assert out.startswith(PASTE_START) and out.endswith(PASTE_END) and out.count(PASTE_END) == 1
