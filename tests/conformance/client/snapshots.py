"""Conformance checks, snapshots and fork: a sandbox captured as a snapshot and new sandboxes made from it, the
snapshot service's list/get/delete, the built-in snapshot of the host image, image builds refused in one line, and
fork (a new sandbox with the files and labels of the first)."""

from __future__ import annotations

from tests.conformance.client import Ctx, check, unique


@check(
    "sandbox.create_snapshot",
    "daytona.snapshot.list",
    "daytona.snapshot.get",
    "daytona.snapshot.delete",
    notes={
        "sandbox.create_snapshot": "the workspace captured in the data dir; a sandbox created from it starts with "
        "those files",
    },
)
def capture_and_create_from(c: Ctx) -> None:
    from daytona import DaytonaNotFoundError

    sb = c.make()
    c.do(sb.fs.upload_file(b"kept", "state.txt"))
    name = unique("snap")
    c.do(sb.create_snapshot(name))
    assert sb.state.value == "started"
    assert name in [s.name for s in c.do(c.d.snapshot.list()).items]
    assert c.do(c.d.snapshot.get(name)).name == name
    copy = c.make(snapshot=name)
    assert c.do(copy.fs.download_file("state.txt")) == b"kept"
    c.do(c.d.snapshot.delete(c.do(c.d.snapshot.get(name))))
    assert name not in [s.name for s in c.do(c.d.snapshot.list()).items]
    c.raises(DaytonaNotFoundError, lambda: c.do(c.d.snapshot.get(name)))


@check(
    "daytona.snapshot.get",
    "daytona.create",
    notes={"daytona.snapshot.get": "by name; an unknown one is not found, and creating from it is refused"},
)
def unknown_snapshot(c: Ctx) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError, DaytonaNotFoundError

    c.raises(DaytonaNotFoundError, lambda: c.do(c.d.snapshot.get("no-such-snapshot")))
    params = CreateSandboxFromSnapshotParams(name=unique("from"), snapshot="no-such-snapshot")
    err = c.raises(DaytonaError, lambda: c.made.append(c.do(c.d.create(params, timeout=10))))
    assert "no snapshot" in str(err) and "no-such-snapshot" in str(err), err


@check(
    "daytona.snapshot.list",
    "daytona.snapshot.activate",
    notes={
        "daytona.snapshot.list": "lists a built-in snapshot of the host image, as Daytona lists its defaults",
        "daytona.snapshot.activate": "local snapshots are always active",
    },
    requires=("daytona.snapshot.list",),
)
def builtin_snapshot(c: Ctx) -> None:
    listed = [s for s in c.do(c.d.snapshot.list()).items if not s.name.startswith("snap-")]
    assert listed, "no built-in snapshot listed"
    sb = c.make(snapshot=listed[0].name)
    assert c.sh(sb, "echo ok") == "ok\n"
    if hasattr(c.d.snapshot, "activate"):
        active = c.do(c.d.snapshot.activate(listed[0]))
        assert active.name == listed[0].name and str(getattr(active.state, "value", active.state)) == "active"


@check(
    "daytona.snapshot.create",
    expect="501",
    notes={"daytona.snapshot.create": "an image build cannot run offline on one machine; use create_snapshot"},
)
def image_snapshot_refused(c: Ctx) -> None:
    from daytona import CreateSnapshotParams

    msg = c.refused(lambda: c.do(c.d.snapshot.create(CreateSnapshotParams(name=unique("img"), image="python:3.12"))))
    assert "image" in msg, msg
    assert "\n" not in msg, msg


FORK_NOTE = 'a fork in the checkpoint tree (see "Snapshots"); labels, env and settings carried over'


@check("sandbox.fork", notes={"sandbox.fork": FORK_NOTE})
def fork(c: Ctx) -> None:
    sb = c.make(labels={"team": "f"}, env_vars={"FOO": "bar"})
    c.do(sb.fs.upload_file(b"forked", "f.txt"))
    twin = c.do(sb.fork(name=unique("twin")))
    c.made.append(twin)
    assert twin.id != sb.id and twin.state.value == "started" and twin.labels["team"] == "f"
    assert c.do(twin.fs.download_file("f.txt")) == b"forked"
    assert c.sh(twin, 'echo "$FOO"') == "bar\n"
    c.do(twin.fs.upload_file(b"changed", "f.txt"))
    assert c.do(sb.fs.download_file("f.txt")) == b"forked"  # a copy, not a shared folder
