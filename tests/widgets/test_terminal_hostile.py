"""Hostile output: what a program in a sandbox writes to its terminal is untrusted input to the app.

Whatever bytes arrive, in whatever pieces, the emulator must not raise, hang or grow without bound, its screen must
stay well formed (through resizes too), and the only bytes it ever writes back to the program are the status and
attribute replies — never text the program chose (title reports, clipboard, DECRQSS), which is how terminal
injection attacks type commands into a shell.
"""

from __future__ import annotations

import re
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from widgets.terminal.emulator import Emulator
from widgets.terminal.scrollback import entry_segments

# replies a program may get: device status (ESC[0n), cursor position (ESC[r;cR, DEC form ESC[?r;cR), DA1, DA2
ALLOWED_REPLY = re.compile(r"(\x1b\[0n|\x1b\[\??\d+;\d+R|\x1b\[\?62;22c|\x1b\[>1;10;0c)*")

_params = st.one_of(
    st.just(""),
    st.integers(0, 300).map(str),
    st.sampled_from(["0", "1", "999999999999999999999", "4294967296", "-1", ";", ";;", "1;2;3;4;5", ":"]),
    st.lists(st.integers(0, 70000).map(str), min_size=1, max_size=6).map(";".join),
)
_csi = st.builds(
    lambda priv, p, final: f"\x1b[{priv}{p}{final}",
    st.sampled_from(["", "?", ">", "<", "=", " "]),
    _params,
    st.sampled_from([*"ABCDEFGHIJKLMPSTXZ@`abcdefghlmnqrstu", "$p", " q", "!p", '"p']),
)
_token = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["漢字", "e\u0301", "\u200b", "😀", "\t", "\r", "\n", "\x08", "\x07", "\x0e", "\x0f", "\x00"]),
    _csi,
    st.sampled_from(
        [
            "\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[?47h",
            "\x1b[?6h",
            "\x1b[?7l",
            "\x1b[?7h",
            "\x1b[?1000h",
            "\x1b[?1006h",
            "\x1b[?2004h",
            "\x1b7",
            "\x1b8",
            "\x1bc",
            "\x1bD",
            "\x1bM",
            "\x1bE",
            "\x1b#8",
            "\x1b(0",
            "\x1b(B",
            "\x1b]0;title\x07",
            "\x1b]2;\x1b[31mx\x07",
            "\x1b]52;c;ZWNobyBoaQ==\x07",
            "\x1bP$qm\x1b\\",
            "\x1b]8;;http://x\x1b\\",
            "\x1b]",
            "\x1bP",
            "\x1b",
            "\x9b2J",
        ]
    ),
)
_stream = st.lists(_token, max_size=60).map(lambda ts: "".join(ts).encode("utf-8", "surrogatepass"))


def assert_well_formed(s: Emulator) -> None:
    assert len(s.lines) == s.rows
    assert all(len(line.chars) == s.cols and len(line.styles) == s.cols for line in s.lines)
    assert 0 <= s.x < s.cols and 0 <= s.y < s.rows
    assert 0 <= s.top <= s.bottom < s.rows
    assert len(s.history) <= (s.history.maxlen or 0)
    for i in range(len(s.history)):
        entry_segments(s.history[i], s.cols)  # every scrollback entry can be shown
    s.display()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_stream,
    junk=st.binary(max_size=40),
    cuts=st.lists(st.integers(1, 50), min_size=1, max_size=8),
    sizes=st.lists(st.tuples(st.integers(1, 120), st.integers(1, 40)), max_size=3),
)
def test_any_output_in_any_pieces_leaves_a_well_formed_screen(
    data: bytes, junk: bytes, cuts: list[int], sizes: list[tuple[int, int]]
) -> None:
    s = Emulator(30, 8, scrollback=50)
    stream = data + junk + data  # invalid UTF-8 and cut sequences in the middle
    pos = i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        s.feed(stream[pos : pos + step], more=bool(i % 2))
        pos += step
        i += 1
        assert_well_formed(s)
    for cols, rows in sizes:
        s.resize(cols, rows)  # reflow included
        assert_well_formed(s)
        s.feed(data)
        assert_well_formed(s)
    assert ALLOWED_REPLY.fullmatch(s.take_replies().decode())


def test_huge_parameters_are_clamped_not_obeyed() -> None:
    s = Emulator(80, 24, scrollback=100)
    s.feed(b"x")
    for final in "ABCDEFGHIJKLMPSTXZ@`abdefg":
        s.feed(f"\x1b[4294967295{final}\x1b[999999999999999999999{final}".encode())
        assert_well_formed(s)
    s.feed(b"y\x1b[2000000000b")  # REP: repeat the last character two billion times
    assert_well_formed(s)
    assert s.display()[s.y].count("y") <= 80


def test_nothing_the_program_chose_is_typed_back_into_it() -> None:
    s = Emulator(80, 24)
    s.feed(b"\x1b]2;rm -rf ~\r\x07")  # set a title that is a command ...
    s.feed(b"\x1b[21t\x1b[20t\x1b[19t\x1b[18t\x1b[14t")  # ... and ask for it (and sizes) to be reported
    s.feed(b"\x1bP$q\r rm -rf ~\r\x1b\\")  # DECRQSS with a payload
    s.feed(b"\x1b]52;c;?\x07\x1b]52;c;cm0gLXJmIH4=\x07")  # clipboard read and write
    s.feed(b"\x1b]10;?\x07\x1b]11;?\x07\x1b]4;1;?\x07")  # colour queries
    s.feed(b"\x1b[>0q\x1b[?u\x1b[=c")  # version, kitty keyboard and tertiary attribute queries
    assert s.take_replies() == b""
    assert "\r" not in s.title and "\x07" not in s.title


def test_an_endless_escape_sequence_is_dropped_not_buffered() -> None:
    tracemalloc.start()
    s = Emulator(80, 24)
    s.feed(b"\x1b]0;")
    for _ in range(40):
        s.feed(b"A" * (1 << 18))  # 10 MiB of an OSC that never ends
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert used < 8 << 20
    s.feed(b"\x07\r\nstill works")
    assert "still works" in "\n".join(s.display())
