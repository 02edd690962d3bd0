"""xterm mouse reports: every event kind in each encoding a program can ask for, and what must not be sent."""

from __future__ import annotations

import pytest

from widgets.terminal.mouse import encode_mouse

SGR = {1000, 1006}


@pytest.mark.parametrize(
    ("kind", "button", "modes", "mods", "expected"),
    [
        # SGR (1006): 1-based cells, the button kept on release, 'm' for a release
        ("press", 1, SGR, {}, b"\x1b[<0;5;3M"),
        ("release", 1, SGR, {}, b"\x1b[<0;5;3m"),
        ("press", 3, SGR, {}, b"\x1b[<2;5;3M"),
        ("press", 2, SGR, {"ctrl": True, "meta": True}, b"\x1b[<25;5;3M"),
        ("wheel_up", 0, SGR, {}, b"\x1b[<64;5;3M"),
        ("wheel_down", 0, SGR, {}, b"\x1b[<65;5;3M"),
        ("motion", 1, {1002, 1006}, {}, b"\x1b[<32;5;3M"),
        ("motion", 0, {1003, 1006}, {}, b"\x1b[<35;5;3M"),
        # the default encoding: one byte per value, offset by 32; a release does not say which button
        ("press", 1, {1000}, {}, b"\x1b[M\x20\x25\x23"),
        ("release", 3, {1000}, {}, b"\x1b[M\x23\x25\x23"),
        ("press", 1, {1000, 1015}, {}, b"\x1b[32;5;3M"),
        # X10 (9): presses only, no modifiers
        ("press", 1, {9}, {"ctrl": True}, b"\x1b[M\x20\x25\x23"),
    ],
)
def test_reports(kind: str, button: int, modes: set[int], mods: dict[str, bool], expected: bytes) -> None:
    assert encode_mouse(kind, button, 4, 2, modes, **mods) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "button", "modes"),
    [
        ("press", 1, set()),  # the program has not asked for the mouse
        ("motion", 1, {1000, 1006}),  # 1000 reports no motion
        ("motion", 0, {1002, 1006}),  # 1002 only while a button is held
        ("release", 1, {9}),  # X10 has no releases
    ],
)
def test_events_the_program_did_not_ask_for_are_not_sent(kind: str, button: int, modes: set[int]) -> None:
    assert encode_mouse(kind, button, 4, 2, modes) is None  # type: ignore[arg-type]


def test_far_cells_use_the_encoding_that_can_carry_them() -> None:
    assert encode_mouse("press", 1, 300, 2, {1000}) is None  # past column 223 the default form cannot say it
    assert encode_mouse("press", 1, 300, 2, {1000, 1006}) == b"\x1b[<0;301;3M"
    assert encode_mouse("press", 1, 300, 2, {1000, 1005}) == b"\x1b[M" + (" " + chr(333) + "#").encode()
