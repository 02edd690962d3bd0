"""The sandbox list's columns fit the terminal: nothing cut mid-word at 80 columns, every field at 120 and more.

Pure functions (`column_specs`, `human_size`) tested directly; the table itself through Pilot at 80x24, including
the update path that once left a column as wide as its header ("204." for "204.0K", "● sta" for a state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.models import Isolation, Resources, SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.sandbox_table import SCROLLBAR, WIDE, ColumnSpec, column_specs, detail_text, human_size

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def info(name: str, *, owner: str = "me", cpu: int = 1, mem: float = 1, disk: float = 3, **kw: object) -> SandboxInfo:
    return SandboxInfo(
        id=f"id-{name}",
        name=name,
        state=kw.pop("state", SandboxState.STARTED),  # type: ignore[arg-type]
        provider="local",
        owner=owner,
        labels={"sandbench.owner": owner, "team": "web"},
        resources=Resources(cpu=cpu, memory_gib=mem, disk_gib=disk),
        auto_stop_minutes=15,
        created_at=T0,
        last_activity=T0,
        isolation=Isolation.NO_CGROUP,
        **kw,  # type: ignore[arg-type]
    )


def rendered_width(specs: list[ColumnSpec]) -> int:
    return sum(s.width + 2 for s in specs) + SCROLLBAR


@pytest.mark.parametrize(
    "n", [0, 1, 999, 1023, 1024, 10 * 1024 - 1, 204 * 1024 + 500, 1024**2 - 1, 46 * 1024**2, 2**40, 2**52]
)
def test_human_size_is_at_most_five_cells(n: int) -> None:
    assert len(human_size(n)) <= 5


def test_sizes_are_compact() -> None:
    assert [human_size(n) for n in (512, 1536, 209_396, 48_234_496)] == ["512B", "1.5K", "204K", "46M"]


@pytest.mark.parametrize("show_owner", [False, True])
@pytest.mark.parametrize("width", [80, 100, 119])
def test_narrow_layout_fits(width: int, show_owner: bool) -> None:
    infos = [info("api-server"), info("a" * 63, cpu=16, mem=64, disk=500), info("x", owner="someone-with-a-long-name")]
    specs = column_specs(width, infos, show_owner=show_owner, owner_label="sandbench.owner", identity="me")
    keys = [s.key for s in specs]
    assert "provider" not in keys and "labels" not in keys and "resources" in keys
    assert ("owner" in keys) == show_owner
    assert rendered_width(specs) <= width
    assert all(len(s.label) <= s.width for s in specs)  # no header cut either
    resources = next(s for s in specs if s.key == "resources")
    assert resources.width >= len("16/64G/500G")


@pytest.mark.parametrize("width", [80, 100, 119, 160])
def test_the_cpu_sparkline_has_a_column_at_every_width_of_one_s_own_list(width: int) -> None:
    infos = [info("api-server"), info("a" * 63, cpu=16, mem=64, disk=500)]
    specs = column_specs(width, infos, show_owner=False, owner_label="sandbench.owner", identity="me")
    spark = next(s for s in specs if s.key == "spark")
    assert spark.width >= len(spark.label) and rendered_width(specs) <= width
    assert next(s for s in specs if s.key == "name").width >= 10


def test_wide_layout_has_every_column_and_gives_labels_the_rest() -> None:
    specs = column_specs(160, [info("api-server")], show_owner=False, owner_label="sandbench.owner", identity="me")
    assert [s.key for s in specs] == [
        "name",
        "state",
        "spark",
        "provider",
        "isolation",
        "cpu",
        "mem",
        "disk",
        "used",
        "activity",
        "labels",
    ]
    assert rendered_width(specs) == 160
    assert column_specs(WIDE, [], show_owner=True, owner_label="o", identity="me")[1].key == "owner"


def test_detail_line_carries_what_the_narrow_table_leaves_out() -> None:
    line = detail_text(info("box"), owner_label="sandbench.owner", mine=True, columns=["name", "state"]).plain
    assert "team=web" in line and "isolation: no-cgroup" in line and "auto-stop: 15m" in line
    assert "sandbench.owner" not in line  # the owner label is the Owner column's business
    assert "archive: 7d" in line and "delete:" not in line  # the lifecycle: archived after 7 days, never deleted
    eph = detail_text(
        dataclasses.replace(info("box"), auto_delete_minutes=0, auto_archive_minutes=90),
        owner_label="sandbench.owner",
        mine=True,
        columns=["name"],
    ).plain
    assert "archive: 1h30m" in eph and "delete: on stop" in eph
    later = dataclasses.replace(info("box"), auto_delete_minutes=2 * 1440)
    assert "delete: 2d" in detail_text(later, owner_label=None, mine=True, columns=["name"]).plain
    theirs = detail_text(info("box", owner="alice"), owner_label="sandbench.owner", mine=False, columns=["labels"])
    assert "read-only: alice's" in theirs.plain


async def test_table_at_80_columns_never_cuts_a_cell(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    long = "n" * 63
    await service.create(SandboxSpec(name="box"))
    await service.create(SandboxSpec(name=long))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        table = screen.table
        assert table.virtual_size.width <= table.size.width  # no sideways scrolling at 80 columns
        (box,) = [i for i in table.infos if i.name == "box"]
        # a usage figure and a transition arrive as row updates (no re-layout): their columns already fit them
        table.upsert(dataclasses.replace(box, disk_used_bytes=209_396, state=SandboxState.STOPPING))
        await pilot.pause()
        widths = {c.key.value: c.get_render_width(table) - 2 for c in table.ordered_columns}
        row = table.row_text(box.id)
        assert row["used"] == "204K" and len(row["used"]) <= widths["used"]
        assert row["state"].endswith("stopping") and len(row["state"]) <= widths["state"]
        assert widths["name"] < len(long)  # the long name is the one that gives way (with "…")


async def test_names_of_one_family_still_differ_when_cut_at_80_columns(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    names = ["project-alpha-1", "project-alpha-2"]
    for name in names:
        await service.create(SandboxSpec(name=name))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        table = screen.table
        width = next(c.get_render_width(table) - 2 for c in table.ordered_columns if c.key.value == "name")
        cells = [table.row_text(i.id)["name"] for i in table.infos]
        assert width < len(names[0]), cells  # the name column is narrower than the names at 80 columns
        # both used to read "project-alp…"; cut in the middle, their ends (where they differ) stay
        assert len(set(cells)) == 2 and all("…" in c and len(c) <= width for c in cells), cells
        assert [c[-1] for c in cells] == ["1", "2"], cells


async def test_a_sandbox_made_elsewhere_shows_its_used_disk_and_the_title_stays_on_the_first_row(
    service: SandboxService, make_app: Callable[..., SandbenchApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.screens.sandbox_list.REFRESH_EVERY", 3600.0)  # no periodic listing fills it in
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, SandboxListScreen)
        title = screen.query_one("#list-title")
        empty = screen.query_one("#list-empty")
        # "No sandboxes yet" over the table; it was docked and kept a blank line above the title while shown
        await wait_until(pilot, lambda: empty.display and empty.region.height == 1)
        assert title.region.y == 0 and empty.region.y == 3, (title.region, empty.region)

        # made by another client: the state event carries no usage figure, and Used showed "-" until the next
        # periodic listing (10 s, and none while a workspace is shown); now the row is measured at once
        box = await service.create(SandboxSpec(name="filled"))
        await wait_until(pilot, lambda: box.id in screen.table.rows)
        used = lambda: screen.table.row_text(box.id)["used"]  # noqa: E731
        await wait_until(pilot, lambda: used() != "-" and used()[-1] in "BKMG", show=used)
        await wait_until(pilot, lambda: not empty.display)
        assert title.region.y == 0
