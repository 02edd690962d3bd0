"""`sandbench doctor`: what isolation a new local sandbox would get on this machine, why, and how to fix each
shortfall — shared by the CLI (`tui/cli.py`) and the app's sandbox list.

UI-free and blocking (a few subprocesses, ~50 ms): callers run `diagnose` in a thread. Each check is a
`Finding` with a stable id, a status (`ok`, `warn`: works with less, `fail`: blocks or lowers isolation), one
line of summary, at most one line of fix (the command to run) and optional detail lines. The isolation level
itself comes from the launcher's own probe (`Launcher.isolation()`, with a fresh `CgroupManager`), so the doctor
and the provider cannot disagree about it; the other checks explain it.

Nothing secret is read or printed: no config values beyond the data directory, no environment.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.local import cgroups, network
from services.local.bwrap import missing_reason
from services.local.cgroups import CgroupManager
from services.local.launch import SANDBOX_PATH, Launcher
from services.local.repair import inspect as inspect_state
from services.models import BwrapChoice, Isolation
from services.text import first_line, wrap

OK, WARN, FAIL = "ok", "warn", "fail"
# The uid the launcher probes bwrap as when we are root; sandboxes get their own unprivileged uids, which, like
# this one, are in no group of the folders above the data dir: only the "other" permission bits apply to them.
PROBE_UID = 65534
DETAIL_INDENT = 7  # where a finding's details and fix start, under its summary
USERNS_FILES = {
    "max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "apparmor_restrict_unprivileged_userns": "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
}


@dataclass(frozen=True)
class Finding:
    id: str
    status: str
    summary: str
    fix: str | None = None
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class Report:
    isolation: Isolation
    why: str
    bwrap: BwrapChoice | None
    bwrap_works: bool
    data_dir: Path
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def blocked(self) -> bool:
        """Sandboxes could be created but no process could run in them (a `fail` outside the level's checks)."""
        return any(f.status == FAIL and f.id == "data_dir" for f in self.findings)

    @property
    def ok(self) -> bool:
        """A new sandbox gets `full` and can run: what the exit code 0 means."""
        return self.isolation is Isolation.FULL and not self.blocked and not self._db_damaged

    @property
    def _db_damaged(self) -> bool:
        return any(f.status == FAIL and f.id == "state_db" for f in self.findings)

    def headline(self) -> str:
        """One line: the verdict and its first reason."""
        if self.ok:
            return f"isolation would be {self.isolation}: {self.why}"
        first = next((f for f in self.findings if f.status == FAIL), None)
        if self.isolation is Isolation.FULL and first is not None:
            return f"new sandboxes could not run: {first.summary}"
        return f"isolation would be {self.isolation}: {self.why}"

    def lines(self) -> list[str]:
        """The whole report as plain text, one finding per line plus its details and fix."""
        out = [self.headline(), ""]
        for f in self.findings:
            out.append(f"[{f.status}] {f.id}: {f.summary}")
            out.extend(f"{' ' * DETAIL_INDENT}{d}" for d in f.details)
            if f.fix and f.status != OK:
                out.append(f"{' ' * DETAIL_INDENT}fix: {f.fix}")
        return out

    def lines_at(self, width: int | None) -> list[str]:
        """`lines()` fitted to `width` columns (None: as they are, one per finding, for a pipe): see `fit`."""
        return fit(self.lines(), width)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "isolation": str(self.isolation),
            "why": self.why,
            "runnable": not self.blocked,
            "bwrap": {
                "path": self.bwrap.path if self.bwrap else None,
                "source": self.bwrap.source if self.bwrap else None,
                "version": self.bwrap.version if self.bwrap else None,
                "works": self.bwrap_works,
            },
            "data_dir": str(self.data_dir),
            "checks": [f.to_json() for f in self.findings],
        }


def fit(lines: list[str], width: int | None) -> list[str]:
    """The report's lines wrapped at `width` columns at spaces and after a path's `/`, never mid-name (a terminal
    cuts a long data folder path anywhere): a finding's continuation lines go under its details (7 columns in), a
    detail's 2 further in. None: unchanged."""
    if width is None:
        return list(lines)
    out: list[str] = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        out.extend(wrap(line, width, indent + 2 if indent else DETAIL_INDENT))
    return out


# -- helpers ------------------------------------------------------------------------------------------------------
def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _sandbox_uid() -> int | None:
    """The uid sandboxes run as, as far as permissions go: a stranger's when we are root, else our own."""
    return PROBE_UID if os.geteuid() == 0 else None


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _traversable(folder: Path, st: os.stat_result, uid: int | None) -> bool:
    if uid is None:  # sandboxes run as we do
        return os.access(folder, os.X_OK)
    return bool(st.st_mode & stat.S_IXOTH)


def _run_as(argv: list[str], uid: int | None, timeout: float = 10) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv,
        env={"PATH": SANDBOX_PATH},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
        cwd="/",
        user=uid,
        group=uid,
        extra_groups=[] if uid is not None else None,
    )


def blocked_ancestor(path: Path, uid: int | None) -> tuple[Path, os.stat_result] | None:
    """The first existing folder on the way to `path` that `uid` cannot traverse (None: all can be)."""
    for folder in [*reversed(path.parents), path]:
        try:
            st = os.stat(folder)
        except OSError:
            return None  # from here on nothing exists yet: we create it, with modes that work
        if not _traversable(folder, st, uid):
            return folder, st
    return None


# -- the checks -----------------------------------------------------------------------------------------------------
def check_userns() -> Finding:
    values = {name: _read_int(path) for name, path in USERNS_FILES.items()}
    details = tuple(f"{name} = {v}" for name, v in values.items() if v is not None)
    if values["max_user_namespaces"] == 0:
        return Finding(
            "userns", FAIL, "user namespaces are disabled", "sysctl -w user.max_user_namespaces=15000", details
        )
    if values["unprivileged_userns_clone"] == 0:
        return Finding(
            "userns",
            FAIL,
            "unprivileged user namespaces are disabled",
            "sysctl -w kernel.unprivileged_userns_clone=1",
            details,
        )
    if values["apparmor_restrict_unprivileged_userns"] == 1:
        return Finding(
            "userns",
            FAIL,
            "AppArmor restricts unprivileged user namespaces",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
            details,
        )
    unshare = shutil.which("unshare", path=SANDBOX_PATH)
    if unshare is None:
        return Finding("userns", OK, "enabled (not probed: no 'unshare' program)", None, details)
    uid = _sandbox_uid()
    who = "an unprivileged uid" if uid is not None else "this user"
    try:
        res = _run_as([unshare, "--user", "true"], uid)
    except (OSError, subprocess.SubprocessError) as exc:
        return Finding("userns", WARN, f"could not probe ({exc.__class__.__name__})", None, details)
    if res.returncode != 0:
        why = first_line(res.stderr.decode(errors="replace"), 160).removeprefix("unshare: ")
        return Finding(
            "userns",
            FAIL,
            f"{who} cannot create a user namespace ({why or 'refused'})",
            "in a container: run it with --security-opt seccomp=unconfined (or a profile that allows unshare)",
            details,
        )
    return Finding("userns", OK, f"{who} can create a user namespace", None, details)


def check_bwrap(choice: BwrapChoice | None, works: bool, userns: Finding, setting: str = "auto") -> Finding:
    if choice is None:
        # the launcher's own one line (it names the setting when one was given), and its fix after the colon
        summary, _, fix = missing_reason(setting).partition(": ")
        return Finding("bwrap", FAIL, summary, fix or None)
    about = f"{choice.source} bwrap {choice.version or '(version unknown)'} at {choice.copied_from or choice.path}"
    if choice.copied_from:
        about += f" (run from a verified copy at {choice.path}: the sandbox uids cannot reach the original)"
    if works:
        return Finding("bwrap", OK, f"{about}: works")
    uid = _sandbox_uid()
    stuck = blocked_ancestor(Path(choice.path).parent, uid)
    if stuck is not None:
        folder, st = stuck
        return Finding(
            "bwrap",
            FAIL,
            f"{about}: the sandbox uid cannot reach it ({folder} is {stat.filemode(st.st_mode)})",
            "apt-get install bubblewrap  (or: chmod o+x " + str(folder) + ")",
        )
    if userns.status == FAIL:
        return Finding("bwrap", FAIL, f"{about}: cannot run without user namespaces (see userns)", userns.fix)
    return Finding("bwrap", FAIL, f"{about}: its probe failed (details in the log file)", "sandbench doctor --json")


def check_cgroup(manager: CgroupManager) -> Finding:
    mounts = cgroups._cgroup_mounts()
    has_v2 = any(m[2] == "cgroup2" for m in mounts)
    v1 = sorted({c for m in mounts if m[2] == "cgroup" for c in m[3].split(",") if c in cgroups.V1_REQUIRED})
    own = cgroups._own_v2_path()
    details = (
        f"cgroup v2 mounted: {'yes' if has_v2 else 'no'}" + (f" (this process is in {own})" if has_v2 and own else ""),
        f"cgroup v1 controllers: {', '.join(v1) or 'none'}",
    )
    if manager.available:
        return Finding("cgroup", OK, f"per-sandbox cgroups (v{manager.version}) with pids, memory, cpu", None, details)
    reason = manager.reason
    if os.geteuid() != 0 and has_v2:
        fix = (
            "sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=pids memory cpu\\n' "
            "| sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl daemon-reload"
        )
        summary = f"cgroup v2 is not delegated to this user ({reason})"
    elif os.geteuid() != 0:
        fix = "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2, delegated), or run sandbench as root"
        summary = f"only cgroup v1, which is not delegated to users ({reason})"
    else:
        fix = "mount -o remount,rw /sys/fs/cgroup  (in a container: start it with --cgroupns=private --privileged)"
        summary = f"cgroups are not writable ({reason})"
    return Finding("cgroup", FAIL, summary, fix, details)


def check_network() -> list[Finding]:
    out = []
    slirp = network._slirp_binary()
    pasta = shutil.which("pasta", path=SANDBOX_PATH)
    extra = (f"pasta: {pasta or 'not installed'}",)
    if slirp:
        out.append(Finding("netstack", OK, f"slirp4netns at {slirp}", None, extra))
    else:
        out.append(
            Finding(
                "netstack",
                WARN,
                "slirp4netns is not installed: sandboxes created with network on cannot start (others are fine)",
                "apt-get install slirp4netns",
                extra,
            )
        )
    try:
        st = os.stat(network.TUN_DEVICE)
    except OSError:
        out.append(
            Finding(
                "tun",
                WARN,
                f"{network.TUN_DEVICE} is missing: no networking for sandboxes",
                "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 /dev/net/tun",
            )
        )
        return out
    mode = stat.filemode(st.st_mode)
    if os.geteuid() == 0 or network._may_open_tun(os.geteuid(), os.getegid()):
        how = " (each sandbox gets a private node)" if os.geteuid() == 0 else ""
        out.append(Finding("tun", OK, f"{network.TUN_DEVICE} {mode} usable{how}"))
    else:
        out.append(
            Finding("tun", WARN, f"{network.TUN_DEVICE} {mode}: not usable by this user", "chmod 0666 /dev/net/tun")
        )
    return out


def check_data_dir(data_dir: Path, *, by_path: bool) -> Finding:
    """`by_path`: bwrap, running as the sandbox's uid, reaches the workspace by its path, so every folder above it
    must be traversable by that uid (as root the launcher binds it on a mount point of its own instead)."""
    uid = _sandbox_uid()
    details = []
    for folder in [*reversed(data_dir.parents), data_dir]:
        try:
            st = os.stat(folder)
        except OSError:
            details.append(f"{folder}: does not exist yet (created on first use)")
            break
        reach = "traversable" if _traversable(folder, st, uid) else "NOT traversable"
        details.append(f"{folder}: owner {_owner(st.st_uid)}, {stat.filemode(st.st_mode)}, {reach} by sandboxes")
    stuck = blocked_ancestor(data_dir, uid) if by_path else None
    if stuck is not None:
        folder, st = stuck
        return Finding(
            "data_dir",
            FAIL,
            f"the sandbox uid cannot traverse {folder} ({stat.filemode(st.st_mode)}): no command can run in a sandbox",
            f"chmod o+x {folder}  (or set SANDBENCH_HOME to a folder under /var/lib)",
            tuple(details),
        )
    if data_dir.exists() and not os.access(data_dir, os.W_OK):
        return Finding(
            "data_dir",
            FAIL,
            f"{data_dir} is not writable by this user",
            f"chown {os.geteuid()} {data_dir}",
            tuple(details),
        )
    return Finding("data_dir", OK, f"{data_dir}", None, tuple(details))


def check_state_db(data_dir: Path) -> Finding:
    try:
        health = inspect_state(data_dir)
    except Exception as exc:  # a busy or unreadable file: say so, do not guess
        return Finding("state_db", WARN, f"could not check state.db ({exc.__class__.__name__})")
    if not health.exists:
        return Finding("state_db", OK, "no state database yet (created on first use)")
    if health.damaged:
        return Finding("state_db", FAIL, f"{health.path} is damaged ({health.detail})", "sandbench doctor --repair")
    details = tuple(f"kept, cannot be rebuilt (no valid meta.json): sandboxes/{n}" for n in health.no_meta)
    if health.unlisted:
        return Finding(
            "state_db",
            WARN,
            f"{len(health.unlisted)} sandbox folder(s) are missing from the state database",
            "sandbench doctor --repair",
            details,
        )
    return Finding("state_db", OK, f"{health.path} is sound", None, details)


def diagnose(data_dir: Path, bwrap_setting: str | None = None) -> Report:
    """Run every check (blocking; see the module docstring). `bwrap_setting` is the config's `bwrap` (None:
    `$SANDBENCH_BWRAP`, else auto), so the doctor looks at the binary the provider would run."""
    manager = CgroupManager()
    launcher = Launcher(data_dir / "run", cgroups=manager, bwrap_setting=bwrap_setting)
    works = launcher.bwrap_works()
    level = launcher.isolation()
    choice = launcher.bwrap
    userns = check_userns()
    bwrap = check_bwrap(choice, works, userns, launcher.bwrap_setting)
    cgroup = check_cgroup(manager)
    findings = [
        userns,
        bwrap,
        cgroup,
        *check_network(),
        check_data_dir(data_dir, by_path=launcher.binds_workspace_by_path),
        check_state_db(data_dir),
    ]
    if level is Isolation.NONE:
        why = bwrap.summary
    elif level is Isolation.NO_CGROUP:
        why = f"{cgroup.summary}; limits are per process only"
    else:
        why = f"bubblewrap works and each sandbox gets its own cgroup (v{manager.version})"
    return Report(
        isolation=level, why=why, bwrap=choice, bwrap_works=works, data_dir=data_dir, findings=tuple(findings)
    )
