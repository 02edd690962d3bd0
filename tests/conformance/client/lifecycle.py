"""Conformance checks, lifecycle: create/get/list/delete, start/stop/archive, labels, list pagination, the
auto-stop/archive/delete intervals, environment variables, and the settings serve refuses by name."""

from __future__ import annotations

from tests.conformance.client import Ctx, check, unique

OWNER_LABEL = "sandbench.owner"


@check(
    "daytona.create",
    "daytona.get",
    "daytona.delete",
    "sandbox.delete",
    notes={
        "daytona.create": "from the host image (there is one local snapshot); `image=` and `resources=` are not "
        "built: the sandbox runs the host's programs",
        "daytona.get": "by id or by name; another token's sandbox is not found",
    },
)
def create_get_delete(c: Ctx) -> None:
    from daytona import DaytonaNotFoundError

    name = unique("life")
    sb = c.make(name=name, labels={"team": "a"}, env_vars={"GREETING": "hi there"})
    assert sb.state.value == "started"
    assert sb.name == name and sb.labels["team"] == "a"
    assert OWNER_LABEL not in sb.labels
    assert sb.env == {"GREETING": "hi there"}
    r = c.do(sb.process.exec('echo "$GREETING"'))
    assert (r.exit_code, r.result) == (0, "hi there\n")
    assert c.do(c.d.get(sb.id)).name == name
    assert c.do(c.d.get(name)).id == sb.id
    c.do(c.d.delete(sb))
    c.raises(DaytonaNotFoundError, lambda: c.do(c.d.get(sb.id)))
    other = c.make()
    c.do(other.delete())
    c.raises(DaytonaNotFoundError, lambda: c.do(c.d.get(other.name)))


@check(
    "sandbox.stop",
    "sandbox.start",
    "sandbox.archive",
    "sandbox.refresh_data",
    "daytona.start",
    "daytona.stop",
    "sandbox.wait_for_sandbox_start",
    "sandbox.wait_for_sandbox_stop",
    "sandbox.wait_for_resize_complete",
    notes={
        "sandbox.wait_for_resize_complete": "returns at once: a local sandbox is never resizing",
        "sandbox.archive": "the workspace is packed into one file in the data dir; start unpacks it",
        "sandbox.stop": "the sandbox's processes end; its workspace stays",
    },
)
def start_stop_archive(c: Ctx) -> None:
    sb = c.make()
    c.do(sb.fs.upload_file(b"kept", "kept.txt"))
    c.do(sb.stop())
    assert sb.state.value == "stopped"
    c.do(sb.wait_for_sandbox_stop())
    c.do(sb.start())
    assert sb.state.value == "started"
    c.do(sb.wait_for_sandbox_start())
    c.do(sb.wait_for_resize_complete(timeout=5))
    c.do(c.d.stop(sb))
    c.do(sb.refresh_data())
    assert sb.state.value == "stopped"
    c.do(sb.archive())
    c.do(sb.refresh_data())
    assert sb.state.value == "archived"
    c.do(c.d.start(sb))
    c.do(sb.refresh_data())
    assert sb.state.value == "started"
    assert c.do(sb.fs.download_file("kept.txt")) == b"kept"


@check(
    "daytona.list",
    "sandbox.set_labels",
    notes={
        "daytona.list": "filters by labels; pages follow the cursor (the SDK iterates them)",
        "sandbox.set_labels": "the owner label serve keeps never appears and cannot be set",
    },
)
def labels_and_pagination(c: Ctx) -> None:
    from daytona import ListSandboxesQuery

    tag = unique("tag")
    made = [c.make(labels={"suite": tag, "role": role}) for role in ("a", "b", "b")]
    paged = c.items(c.d.list(ListSandboxesQuery(labels={"suite": tag}, limit=1)))
    assert sorted(s.id for s in paged) == sorted(s.id for s in made)
    only_b = c.items(c.d.list(ListSandboxesQuery(labels={"suite": tag, "role": "b"})))
    assert sorted(s.id for s in only_b) == sorted(s.id for s in made[1:])
    new = c.do(made[0].set_labels({"suite": tag, "role": "c"}))
    assert (new["suite"], new["role"]) == (tag, "c")
    assert OWNER_LABEL not in new
    again = c.do(c.d.get(made[0].id))
    assert again.labels["role"] == "c" and OWNER_LABEL not in again.labels
    assert c.items(c.d.list(ListSandboxesQuery(labels={"suite": tag, "role": "a"}))) == []


@check(
    "sandbox.set_autostop_interval",
    "sandbox.set_auto_archive_interval",
    "sandbox.set_auto_delete_interval",
    notes={
        "sandbox.set_autostop_interval": "stopped after n minutes without toolbox calls or PTY input; 0 = never",
        "sandbox.set_auto_archive_interval": "archived after n minutes stopped; 0 = the maximum (30 days)",
        "sandbox.set_auto_delete_interval": "deleted after n minutes stopped; -1 = never, 0 = when it stops",
    },
)
def intervals(c: Ctx) -> None:
    sb = c.make(auto_stop_interval=5, auto_archive_interval=1440, auto_delete_interval=2880)
    assert (sb.auto_stop_interval, sb.auto_archive_interval, sb.auto_delete_interval) == (5, 1440, 2880)
    c.do(sb.set_autostop_interval(60))
    c.do(sb.set_auto_archive_interval(90))
    c.do(sb.set_auto_delete_interval(-1))
    got = c.do(c.d.get(sb.id))
    assert (got.auto_stop_interval, got.auto_archive_interval, got.auto_delete_interval) == (60, 90, -1)
    eph = c.make(ephemeral=True)
    assert eph.auto_delete_interval == 0


@check(
    "sandbox.update_env",
    notes={"sandbox.update_env": "for processes started afterwards; kept across a stop"},
)
def update_env(c: Ctx) -> None:
    sb = c.make(env_vars={"KEEP": "k", "DROP": "d"})
    c.do(sb.update_env({"ADDED": "a b"}, unset=["DROP"]))
    r = c.do(sb.process.exec('echo "$KEEP|$DROP|$ADDED"'))
    assert r.result == "k||a b\n"


@check("sandbox.get_user_home_dir", "sandbox.get_work_dir", "sandbox.get_user_root_dir")
def home_and_work_dir(c: Ctx) -> None:
    sb = c.sandbox()
    assert c.do(sb.get_user_home_dir()) == "/home/sandbox"
    assert c.do(sb.get_work_dir()) == "/home/sandbox"
    assert c.do(sb.get_user_root_dir()) == "/home/sandbox"


@check(
    "sandbox.refresh_activity",
    notes={"sandbox.refresh_activity": "resets the auto-stop clock, as a toolbox call does"},
)
def refresh_activity(c: Ctx) -> None:
    sb = c.sandbox()
    assert c.do(sb.refresh_activity()) is None
    c.do(sb.refresh_data())
    assert sb.state.value == "started"


@check("daytona.close", clients=("async",))
def close(c: Ctx) -> None:
    from daytona import AsyncDaytona, DaytonaConfig

    cfg = DaytonaConfig(api_key=c.client.token, api_url=c.client.api_url, target="local")

    async def open_use_close() -> list[str]:
        d = AsyncDaytona(cfg)
        try:
            return [s.id async for s in d.list()]
        finally:
            await d.close()

    mine = c.sandbox().id
    assert mine in c.do(open_use_close())


@check(
    "sandbox.set_public",
    expect="501",
    notes={"sandbox.set_public": "no public preview on one machine; `public=True` at create is refused too"},
    requires=("daytona.create",),
)
def public_refused(c: Ctx) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    if hasattr(c.sandbox(), "set_public"):
        c.refused(lambda: c.do(c.sandbox().set_public(True)), "public")
    c.refused(lambda: c.do(c.d.create(CreateSandboxFromSnapshotParams(name=unique("pub"), public=True))), "public")


@check(
    "sandbox.update_network_settings",
    expect="501",
    notes={
        "sandbox.update_network_settings": "user-mode networking cannot filter by destination; "
        "`network_allow_list` at create is refused too"
    },
)
def network_settings_refused(c: Ctx) -> None:
    from daytona import CreateSandboxFromSnapshotParams

    c.refused(lambda: c.do(c.sandbox().update_network_settings(network_block_all=False)))
    params = CreateSandboxFromSnapshotParams(name=unique("net"), network_allow_list="10.0.0.0/8")
    c.refused(lambda: c.do(c.d.create(params)), "network_allow_list")


@check(
    "sandbox.set_ttl",
    "sandbox.set_auto_pause_interval",
    "sandbox.pause",
    "sandbox.recover",
    "sandbox.resize",
    expect="501",
    notes={
        "sandbox.pause": "a local sandbox stops (its workspace stays) or runs; there is no paused memory image",
        "sandbox.resize": "a local sandbox's limits are the server's flags, per identity",
    },
    requires=("sandbox.pause", "sandbox.recover", "sandbox.resize"),
)
def lifecycle_refused(c: Ctx) -> None:
    from daytona import Resources

    sb = c.sandbox()
    calls = [lambda: c.do(sb.pause()), lambda: c.do(sb.recover()), lambda: c.do(sb.resize(Resources(cpu=2)))]
    if hasattr(sb, "set_ttl"):
        calls.append(lambda: c.do(sb.set_ttl(60)))
    if hasattr(sb, "set_auto_pause_interval"):
        calls.append(lambda: c.do(sb.set_auto_pause_interval(5)))
    for call in calls:
        c.refused(call)
    c.do(sb.refresh_data())
    assert sb.state.value == "started"  # nothing happened to it


@check(
    "sandbox.get_metrics_latest",
    notes={"sandbox.get_metrics_latest": "read from the sandbox's cgroup"},
)
def metrics_latest(c: Ctx) -> None:
    sb = c.sandbox()
    c.sh(sb, "true")  # running, with a cgroup to read
    m = c.do(sb.get_metrics_latest())
    assert m.mem_used > 0 and m.mem_total >= m.mem_used, m
    assert m.cpu_count >= 1 and m.cpu_used_pct >= 0, m


@check(
    "sandbox.get_metrics",
    expect="501",
    notes={"sandbox.get_metrics": "serve keeps no telemetry history; get_metrics_latest reads the current sample"},
)
def metrics_history_refused(c: Ctx) -> None:
    c.refused(lambda: c.do(c.sandbox().get_metrics()))
