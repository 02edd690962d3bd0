"""services/units.py: the one byte-count rule the CLI, the process list and the file API's messages share."""

from __future__ import annotations

import pytest

from services.units import BINARY, byte_size


@pytest.mark.parametrize(
    ("n", "short", "binary"),
    [
        (0, "0B", "0 B"),
        (1023, "1023B", "1023 B"),
        (1024, "1.0K", "1.0 KiB"),
        (1536, "1.5K", "1.5 KiB"),
        (5 * 1024**2, "5.0M", "5.0 MiB"),
        (3 * 1024**4, "3072.0G", "3072.0 GiB"),  # past the last unit it keeps counting in it
    ],
)
def test_sizes_scale_by_1024_in_the_units_asked(n: int, short: str, binary: str) -> None:
    assert byte_size(n) == short
    assert byte_size(n, BINARY, " ") == binary


def test_the_file_api_s_words() -> None:
    from services.local.fsapi import _human

    assert _human(512) == "512 bytes"
    assert _human(10 * 1024**2) == "10.0 MiB"
    assert _human(2 * 1024**4) == "2.0 TiB"
