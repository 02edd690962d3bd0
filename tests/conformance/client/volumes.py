"""Conformance checks, volumes: named volumes created, listed, got and deleted through `daytona.volume`, mounted
read-write into sandboxes and shared between them."""

from __future__ import annotations

import time

from tests.conformance.client import Ctx, check, unique

VOLUMES = "lands with branch volumes"


@check(
    "daytona.volume.create",
    "daytona.volume.list",
    "daytona.volume.get",
    "daytona.volume.delete",
    notes={"daytona.volume.create": "kept in the data dir, owned per identity; never a host path of the client's"},
    pending={"*": VOLUMES},
)
def volumes(c: Ctx) -> None:
    from daytona import DaytonaError, VolumeMount

    name = unique("vol")
    vol = c.do(c.d.volume.create(name))
    assert vol.name == name
    deadline = time.monotonic() + 10
    while str(getattr(vol.state, "value", vol.state)).lower() != "ready":
        assert time.monotonic() < deadline, vol
        time.sleep(0.05)
        vol = c.do(c.d.volume.get(name))
    assert name in [v.name for v in c.do(c.d.volume.list())]
    mount = [VolumeMount(volume_id=vol.id, mount_path="/home/sandbox/data")]
    a = c.make(volumes=mount)
    c.do(a.fs.upload_file(b"shared", "data/note.txt"))
    b = c.make(volumes=mount)
    assert c.do(b.fs.download_file("data/note.txt")) == b"shared"
    assert c.sh(b, "echo more >> data/note.txt && cat data/note.txt") == "sharedmore\n"
    for sb in (a, b):
        c.do(sb.delete())
    c.made.clear()
    c.do(c.d.volume.delete(vol))
    c.raises(DaytonaError, lambda: c.do(c.d.volume.get(name)))
