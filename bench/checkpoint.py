"""Checkpoints of a 20,000-file workspace (a node_modules-like tree) against tar, cp -a, git and the tar.gz
snapshot of before (the provider's old `_pack`, replayed here) of the same tree, all in the same run.

    .venv/bin/python -m bench.checkpoint            # BENCH_CKPT_MIB=... sets the tree's size (default 300)
    BENCH_CKPT_PHASES=auto .venv/bin/python -m bench.checkpoint   # only the automatic-checkpoint phase
    BENCH_CKPT_PHASES=rounds .venv/bin/python -m bench.checkpoint # only git's and the checkpoint rounds (no tar,
                                                                  # snapshot, archive): changes, restore, rollback
    BENCH_CKPT_FEED=0 ...                                         # without change feeds (as a one-shot CLI scans)

The service lives through the whole run (as the app's and `sandbench serve`'s do), so with change feeds on (the
default; services/checkpoints/feed.py) every scan after a sandbox's first costs what changed; scans_feed and
scans_full count which kind ran.

Prints `metric=value unit` (medians of ROUNDS where there are rounds):
- first_checkpoint_ms vs git_first_commit_ms (`git add -A && git commit -q` in a copy of the tree): ratio
- noop_checkpoint_ms: nothing changed since the last checkpoint
- checkpoint_10_ms (after changing 10 files) vs git_commit_10_ms (the same change in the copy), vs tar_ms
  (`tar -cf`), cp_a_ms (`cp -a`), snapshot_targz_ms (the tar.gz snapshot named snapshots were before they
  moved into the store: tarfile w:gz level 1 of the workspace, as the old `_pack`): ratios
- snapshot_10_ms: `sandbench snapshot` now (a checkpoint of kind snapshot in the store) after changing 10 files
  since the last checkpoint, vs snapshot_targz_ms; snapshot_disk_added_10 vs the tar.gz's size (targz_kib)
- archive_ms / start_archived_ms (archive into the store, start restoring from it) vs targz_pack_ms /
  targz_extract_ms (the old archive's pack and unpack of the same tree)
- disk_added_10 vs changed_bytes_10: bytes the store grew by (blobs and the manifest) against the changed files'
- changes_ms vs git_status_ms (`git status --porcelain` of the same change); changes_cpu_ms vs git_status_cpu_ms:
  the same in CPU time (user + system: this process's threads, git's process), steadier under load
- restore_10_ms: `restore NAME CKPT PATH x10` (its checkpoint of the current state first included)
- rollback_10_ms (whole restore, 10 files differ) vs git_checkout_10_ms (`git checkout HEAD~1 -- the 10`)
- automatic checkpoints around an exec (`auto_checkpoint = true`), what they add to the same exec without them
  (exec_plain_ms, `true`), against auto_git_status_ms (`git status --porcelain` of the copy, same rounds):
  auto_added_first_ms (the first command after another process ran in the sandbox: a scan before and after),
  auto_added_next_ms (the next command, back to back: the scan before is skipped), auto_added_write_ms (a next
  command that changes one file: the scan after and a checkpoint); each `_vs_git_status`; then
  auto_restore_after_command_ms (undoing a command right after it: the marker stands for the scan before the
  restore) against auto_restore_after_another_process_ms (the same after another process ran: a scan first)
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dataclasses

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService

FILES = 20_000
ROUNDS = 3
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "gc.auto=0"]
GIT += ["-c", "safe.directory=*"]  # the copy keeps the sandbox uid's ownership (cp -a)


def feeds_on(svc: SandboxService) -> None:
    """Change feeds, as a long-lived process has them (BENCH_CKPT_FEED=0: none; main's code has none)."""
    if os.environ.get("BENCH_CKPT_FEED", "1") == "1" and hasattr(svc.checkpoints, "enable_feeds"):
        svc.checkpoints.enable_feeds()


def emit_scans(svc: SandboxService) -> None:
    emit("scans_feed", svc.counters["checkpoint.scan-feed"], "scans")
    emit("scans_full", svc.counters["checkpoint.scan-full"], "scans")


def emit(metric: str, value: float, unit: str) -> None:
    print(f"{metric}={value:.1f} {unit}" if isinstance(value, float) else f"{metric}={value} {unit}", flush=True)


def children_cpu() -> float:
    """User + system CPU ms of every child waited for so far (git's, for the CPU-time comparison)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * 1000


def timed(fn: object, *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return (time.perf_counter() - t0) * 1000


def run(argv: list[str], cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def pack_targz(ws: Path, dest: Path) -> int:
    """The old snapshot and archive: the provider's `_pack` before they moved into the store."""
    import tarfile

    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        tar.add(ws, arcname=".")
    return dest.stat().st_size


def unpack_targz(archive: Path, into: Path) -> None:
    import tarfile

    into.mkdir()
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="tar")


def du(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def make_tree(ws: Path, total_mib: int, uid: int | None, gid: int | None) -> list[str]:
    """400 packages x (lib/, dist/) x 25 files, sizes 1-24 KiB, ten 5 MiB files; hex text (compressible, as code
    is). Returns the files' relative paths."""
    big = 10
    per_small = max(512, (total_mib * 1024 * 1024 - big * 5 * 1024 * 1024) // FILES)
    paths: list[str] = []
    n = 0
    for pkg in range(400):
        for sub in ("lib", "dist"):
            d = ws / "node_modules" / f"pkg{pkg}" / sub
            d.mkdir(parents=True)
            for f in range(25):
                size = 5 * 1024 * 1024 if n % (FILES // big) == 0 else 1 + (n * 7919) % (2 * per_small)
                rel = f"node_modules/pkg{pkg}/{sub}/f{f}.js"
                (ws / rel).write_bytes(os.urandom(size // 2 + 1).hex()[:size].encode())
                paths.append(rel)
                n += 1
        (ws / "node_modules" / f"pkg{pkg}" / "package.json").write_text(f'{{"name": "pkg{pkg}"}}\n')
    os.symlink("pkg0", ws / "node_modules" / "alias")
    (ws / "node_modules" / "empty").mkdir()
    if uid is not None and gid is not None:
        for root, dirs, files in os.walk(ws):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, gid)
    return paths


def change(roots: list[Path], rels: list[str], tag: str) -> int:
    changed = 0
    for rel in rels:
        for root in roots:
            p = root / rel
            data = p.read_bytes()
            new = data[: len(data) // 2] + f"/* {tag} */".encode() + data[len(data) // 2 :]
            # rewritten in place (same inode, as an editor without rename would), owner kept
            with open(p, "r+b") as fh:
                fh.write(new)
        changed += len(new)
    return changed


def references(ws: Path, home: Path, copy: Path) -> tuple[float, float, float, int, float]:
    """cp -a, tar -cf and the old tar.gz snapshot (pack and unpack) of the tree: (cp, tar, pack ms, size, unpack ms)."""
    cp_ms = timed(run, ["cp", "-a", str(ws), str(copy)], home)
    shutil.rmtree(copy)
    tar_ms = timed(run, ["tar", "-cf", str(home / "tree.tar"), "-C", str(ws), "."], home)
    (home / "tree.tar").unlink()
    t0 = time.perf_counter()
    targz_size = pack_targz(ws, home / "old-snapshot.tar.gz")
    snap_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    unpack_targz(home / "old-snapshot.tar.gz", home / "old-unpacked")
    unpack_ms = (time.perf_counter() - t0) * 1000
    (home / "old-snapshot.tar.gz").unlink()
    shutil.rmtree(home / "old-unpacked")
    emit("cp_a_ms", cp_ms, "ms")
    emit("tar_ms", tar_ms, "ms")
    emit("snapshot_targz_ms", snap_ms, "ms")

    return cp_ms, tar_ms, snap_ms, targz_size, unpack_ms


async def auto_phase(provider: LocalProvider, config: Config, plain: SandboxService, box: str, copy: Path) -> None:
    svc = SandboxService(provider, dataclasses.replace(config, auto_checkpoint=True))
    feeds_on(svc)
    cps = svc.checkpoints
    if cps.store.head(box) is None:
        await cps.create(box, "base")
    target = "node_modules/pkg1/lib/f1.js"
    await svc.exec(box, ["true"])  # warm: the first scan after a checkpoint re-reads its racy entries
    base, first, nxt, write, gst = [], [], [], [], []

    async def exec_ms(s: SandboxService, argv: list[str]) -> float:
        t0 = time.perf_counter()
        r = await s.exec(box, argv)
        assert r.exit_code == 0, r.stderr
        return (time.perf_counter() - t0) * 1000

    skipped = svc.counters["auto-checkpoint.before-skipped"]
    for r in range(5):
        base.append(await exec_ms(plain, ["true"]))  # another process ran: the next command scans before
        first.append(await exec_ms(svc, ["true"]))
        nxt.append(await exec_ms(svc, ["true"]))
        write.append(await exec_ms(svc, ["sh", "-c", f"echo r{r} >> {target}"]))
        gst.append(timed(run, [*GIT, "status", "--porcelain"], copy))
    m = statistics.median
    emit("exec_plain_ms", m(base), "ms")
    emit("auto_git_status_ms", m(gst), "ms")
    for name, xs in (("first", first), ("next", nxt), ("write", write)):
        added = max(0.0, m(xs) - m(base))
        emit(f"auto_added_{name}_ms", added, "ms")
        emit(f"auto_added_{name}_vs_git_status", added / m(gst), "x")
    emit("auto_before_scans_skipped", svc.counters["auto-checkpoint.before-skipped"] - skipped, "of 10")

    # undoing a command: a restore right after it (the marker proves the head is the workspace: no scan first),
    # against the same restore after another process ran in the sandbox (it scans first)
    quick, scanned = [], []
    restores_skipped = svc.counters["restore.scan-skipped"]
    for r in range(3):
        for plain_first, out in ((False, quick), (True, scanned)):
            head = cps.store.head(box)
            assert head is not None
            await exec_ms(svc, ["sh", "-c", f"echo u{r} >> {target}"])
            if plain_first:
                await exec_ms(plain, ["true"])
            t0 = time.perf_counter()
            await cps.restore(box, head)
            out.append((time.perf_counter() - t0) * 1000)
    emit("auto_restore_after_command_ms", m(quick), "ms")
    emit("auto_restore_after_another_process_ms", m(scanned), "ms")
    emit("auto_restore_scans_skipped", svc.counters["restore.scan-skipped"] - restores_skipped, "of 3")
    emit_scans(svc)
    if hasattr(cps, "close"):
        cps.close()
    svc.audit.close()


async def main() -> None:
    total_mib = int(os.environ.get("BENCH_CKPT_MIB", "300"))
    home = Path(tempfile.mkdtemp(prefix="sandbench-bench-ckpt-"))
    config = Config(identity="bench", data_dir=home / "data")
    provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
    service = SandboxService(provider, config)
    feeds_on(service)
    cps = service.checkpoints
    try:
        info = await service.create(SandboxSpec(name="ckpt-bench"))
        row = provider.store.get(info.id)
        assert row is not None
        ws = provider.workspace_path(info.id)
        files = make_tree(ws, total_mib, row.uid, row.gid)
        emit("tree_files", len(files), "files")
        emit("tree_mib", du(ws) / 1024 / 1024, "MiB")
        if os.environ.get("BENCH_CKPT_PHASES") == "auto":
            copy = home / "copy"
            run(["cp", "-a", str(ws), str(copy)], home)
            run([*GIT, "init", "-q"], copy)
            run([*GIT, "add", "-A"], copy)
            run([*GIT, "commit", "-q", "-m", "0"], copy)
            await auto_phase(provider, config, service, info.id, copy)
            return

        copy = home / "copy"
        rounds_only = os.environ.get("BENCH_CKPT_PHASES") == "rounds"
        if rounds_only:
            cp_ms = tar_ms = snap_ms = float("nan")
        else:
            cp_ms, tar_ms, snap_ms, targz_size, unpack_ms = references(ws, home, copy)

        run(["cp", "-a", str(ws), str(copy)], home)
        run([*GIT, "init", "-q"], copy)
        git_first = timed(lambda: (run([*GIT, "add", "-A"], copy), run([*GIT, "commit", "-q", "-m", "0"], copy)))
        t0 = time.perf_counter()
        first = await cps.create(info.id, "first")
        first_ms = (time.perf_counter() - t0) * 1000
        emit("first_checkpoint_ms", first_ms, "ms")
        emit("git_first_commit_ms", git_first, "ms")
        emit("first_vs_git", first_ms / git_first, "x")
        emit("first_checkpoint_files", first.files, "files")

        noop = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            c = await cps.create(info.id)
            noop.append((time.perf_counter() - t0) * 1000)
            assert c.hashed_files <= c.files  # racy entries of the first are re-read once
        emit("noop_checkpoint_ms", statistics.median(noop), "ms")

        ck10, git10, added, changed_bytes, chg, gst, rest, roll, gco = [], [], [], [], [], [], [], [], []
        chg_cpu: list[float] = []
        gst_cpu: list[float] = []
        rest_cpu: list[float] = []
        roll_cpu: list[float] = []
        gco_cpu: list[float] = []
        for r in range(ROUNDS):
            rels = files[r * 10 + 1 : r * 10 + 11]
            base = await cps.create(info.id, f"base {r}")
            changed_bytes.append(change([ws, copy], rels, f"round {r}"))
            t0, c0 = time.perf_counter(), time.process_time()  # every thread of this process: the scan's too
            cs = await cps.changes(info.id)
            chg.append((time.perf_counter() - t0) * 1000)
            chg_cpu.append((time.process_time() - c0) * 1000)
            assert len(cs.changes) == 10, cs.changes
            g0 = children_cpu()
            gst.append(timed(run, [*GIT, "status", "--porcelain"], copy))
            gst_cpu.append(children_cpu() - g0)
            store_before = du(home / "data" / "store")
            t0 = time.perf_counter()
            c = await cps.create(info.id, f"ten {r}")
            ck10.append((time.perf_counter() - t0) * 1000)
            added.append(du(home / "data" / "store") - store_before)
            assert c.files_added == 10, c
            git10.append(timed(lambda: (run([*GIT, "add", "-A"], copy), run([*GIT, "commit", "-q", "-m", "r"], copy))))

            t0, c0 = time.perf_counter(), time.process_time()
            await cps.restore(info.id, base.id, rels)
            rest.append((time.perf_counter() - t0) * 1000)
            rest_cpu.append((time.process_time() - c0) * 1000)
            await cps.restore(info.id, c.id)  # back to the changed state
            t0, c0 = time.perf_counter(), time.process_time()
            res = await cps.restore(info.id, base.id)
            roll.append((time.perf_counter() - t0) * 1000)
            roll_cpu.append((time.process_time() - c0) * 1000)
            assert res.written == 10, res
            g0 = children_cpu()
            gco.append(timed(run, [*GIT, "checkout", "HEAD~1", "--", *rels], copy))
            gco_cpu.append(children_cpu() - g0)
            run([*GIT, "checkout", "HEAD", "--", *rels], copy)

        m = statistics.median
        emit("checkpoint_10_ms", m(ck10), "ms")
        emit("git_commit_10_ms", m(git10), "ms")
        emit("checkpoint_10_vs_git", m(ck10) / m(git10), "x")
        if not rounds_only:
            emit("checkpoint_10_vs_snapshot", 100 * m(ck10) / snap_ms, "%")
            emit("checkpoint_10_vs_tar", 100 * m(ck10) / tar_ms, "%")
            emit("checkpoint_10_vs_cp_a", 100 * m(ck10) / cp_ms, "%")
        emit("disk_added_10", m(added) / 1024, "KiB")
        emit("changed_bytes_10", m(changed_bytes) / 1024, "KiB")
        emit("changes_ms", m(chg), "ms")
        emit("git_status_ms", m(gst), "ms")
        emit("changes_vs_git_status", m(chg) / m(gst), "x")
        # CPU time (user + system) of the same: less at the mercy of the machine's load than wall time
        emit("changes_cpu_ms", m(chg_cpu), "ms")
        emit("git_status_cpu_ms", m(gst_cpu), "ms")
        emit("changes_cpu_vs_git_status_cpu", m(chg_cpu) / m(gst_cpu), "x")
        emit("restore_10_ms", m(rest), "ms")
        emit("rollback_10_ms", m(roll), "ms")
        emit("git_checkout_10_ms", m(gco), "ms")
        emit("rollback_vs_git_checkout", m(roll) / m(gco), "x")
        emit("restore_10_cpu_ms", m(rest_cpu), "ms")
        emit("rollback_10_cpu_ms", m(roll_cpu), "ms")
        emit("git_checkout_10_cpu_ms", m(gco_cpu), "ms")
        emit("rollback_cpu_vs_git_checkout_cpu", m(roll_cpu) / m(gco_cpu), "x")
        emit_scans(service)

        if rounds_only:
            return
        snap10, snap_added = [], []
        for r in range(ROUNDS):
            await cps.create(info.id, f"before snapshot {r}")
            change([ws], files[100 + r * 10 + 1 : 100 + r * 10 + 11], f"snap {r}")
            store_before = du(home / "data" / "store")
            t0 = time.perf_counter()
            await service.snapshot(info.id, f"bench-snap-{r}")
            snap10.append((time.perf_counter() - t0) * 1000)
            snap_added.append(du(home / "data" / "store") - store_before)
        for r in range(ROUNDS):
            await service.delete_snapshot(f"bench-snap-{r}")
        emit("snapshot_10_ms", m(snap10), "ms")
        emit("snapshot_10_vs_targz", 100 * m(snap10) / snap_ms, "%")
        emit("snapshot_disk_added_10", m(snap_added) / 1024, "KiB")
        emit("targz_kib", targz_size / 1024, "KiB")

        await service.stop(info.id)
        t0 = time.perf_counter()
        await service.archive(info.id)
        archive_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        await service.start(info.id)
        start_ms = (time.perf_counter() - t0) * 1000
        emit("archive_ms", archive_ms, "ms")
        emit("targz_pack_ms", snap_ms, "ms")
        emit("start_archived_ms", start_ms, "ms")
        emit("targz_extract_ms", unpack_ms, "ms")
        await auto_phase(provider, config, service, info.id, copy)
    finally:
        for i in await service.list_sandboxes():
            await service.delete(i.id)
        await service.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
