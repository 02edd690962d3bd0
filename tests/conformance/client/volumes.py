"""Conformance checks, volumes: named volumes created, listed, got and deleted through `daytona.volume`, mounted
read-write into sandboxes and shared between them."""

from __future__ import annotations

import time

from tests.conformance.client import Ctx, check, unique


@check(
    "daytona.volume.create",
    "daytona.volume.list",
    "daytona.volume.get",
    "daytona.volume.delete",
    notes={"daytona.volume.create": "kept in the data dir, owned per identity; never a host path of the client's"},
)
def volumes(c: Ctx) -> None:
    from daytona import VolumeMount

    name = unique("vol")
    vol = c.do(c.d.volume.create(name))
    assert vol.name == name
    deadline = time.monotonic() + 10
    while str(getattr(vol.state, "value", vol.state)).lower() != "ready":
        assert time.monotonic() < deadline, vol
        time.sleep(0.05)
        vol = c.do(c.d.volume.get(name))
    assert name in [v.name for v in c.do(c.d.volume.list())]
    at = "/home/daytona/volume"  # where Daytona's volume example mounts one
    mount = [VolumeMount(volume_id=vol.id, mount_path=at)]
    a = c.make(volumes=mount)
    c.sh(a, f"echo shared > {at}/note.txt")
    b = c.make(volumes=mount)
    assert c.sh(b, f"echo more >> {at}/note.txt && cat {at}/note.txt") == "shared\nmore\n"
    assert c.sh(a, f"cat {at}/note.txt") == "shared\nmore\n"  # one folder, read-write from both
    for sb in (a, b):
        c.do(sb.delete())
    c.made.clear()
    c.do(c.d.volume.delete(vol))
    deadline = time.monotonic() + 10  # Daytona deletes a volume in the background: gone, or on its way out
    while True:
        try:
            left = c.do(c.d.volume.get(name))
        except Exception as e:  # SDK 0.190's volume calls raise the generated client's exception, unwrapped
            assert (getattr(e, "status_code", None) or getattr(e, "status", None)) == 404, e
            break
        assert str(getattr(left.state, "value", left.state)).lower() in ("pending_delete", "deleting"), left
        assert time.monotonic() < deadline, left
        time.sleep(0.05)
