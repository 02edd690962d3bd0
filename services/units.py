"""Byte counts as text, for the CLI, the panes and error messages: one scaling rule (1024 per step; whole bytes,
one decimal above) with the unit names each place shows. The sandbox table's five-cell column has its own rule
(widgets/sandbox_table.py `human_size`): it drops the decimal from ten up to stay narrow."""

from __future__ import annotations

from collections.abc import Sequence

SHORT = ("B", "K", "M", "G")  # `1.5K`: table cells and CLI columns
BINARY = ("B", "KiB", "MiB", "GiB")  # `1.5 KiB` (with sep=" "): sentences


def byte_size(n: int, units: Sequence[str] = SHORT, sep: str = "") -> str:
    """`n` bytes in the first of `units` (the first is bytes, each next one 1024 times the one before) in which it
    is below 1024, or in the last: `512B`, `1.5K`, `2048.0G`."""
    size, step = float(n), 0
    while size >= 1024 and step < len(units) - 1:
        size /= 1024
        step += 1
    return f"{size:.0f}{sep}{units[0]}" if step == 0 else f"{size:.1f}{sep}{units[step]}"
