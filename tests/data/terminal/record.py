"""Record the byte streams for the terminal differential tests: `python tests/data/terminal/record.py [NAME ...]`
(all of them, or only the named ones — adding a stream need not re-record the others).

Each program runs on a fresh 80x24 PTY (TERM=xterm-256color, a UTF-8 locale); scripted keys are typed with pauses
and everything the program writes is saved raw to `<name>.bin`. Queries the program sends (device attributes,
cursor position) are answered by our own emulator, as the pane would. Streams are small (a few KB) on purpose.
The recordings are facts about real programs; regenerate them only when you mean to change the corpus.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from widgets.terminal.emulator import Emulator  # noqa: E402

COLS, ROWS = 80, 24


def record(argv: list[str], keys: list[tuple[float, bytes]], *, cwd: str, tail: float = 0.6) -> bytes:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": cwd,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PS1": r"\[\e[1;32m\]demo\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]$ ",
        "LESSHISTFILE": "-",
        "GIT_PAGER": "less -R",
        "PAGER": "less -R",
    }
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    screen = Emulator(COLS, ROWS)
    out = bytearray()
    start = time.monotonic()
    pending = list(keys)
    deadline = start + sum(d for d, _ in keys) + tail + 5

    def pump(until: float) -> bool:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return True
            r, _, _ = select.select([master], [], [], left)
            if not r:
                return True
            try:
                data = os.read(master, 65536)
            except OSError:
                return False
            if not data:
                return False
            out.extend(data)
            screen.feed(data)
            if screen.replies:
                os.write(master, screen.take_replies())

    alive = True
    for delay, key in pending:
        alive = pump(time.monotonic() + delay)
        if not alive:
            break
        os.write(master, key)
    if alive:
        pump(time.monotonic() + tail)
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    os.close(master)
    return bytes(out)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="termrec-"))
    try:
        (work / "notes.txt").write_text(
            "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(60))
        )
        (work / "prog.py").write_text(
            'def greet(name):\n    """Say hello."""\n    return f"hello {name}"\n\nprint(greet("world"))\n'
        )
        (work / "cjk.txt").write_text(
            "中文字符测试：终端里的宽字符应该占两个格子。\n"  # noqa: RUF001 - full-width punctuation is the point
            "日本語のテキスト、カタカナ、ひらがな。\n"
            "한국어 텍스트도 있습니다.\n"
            "combining: e\u0301 a\u0308 o\u0302 n\u0303 — zero width\u200bjoiner\n"
            "emoji: \U0001f600 \U0001f680 \u2764 mixed ascii 中 a 中 b 中\n" + "宽" * 45 + "\n" + "x" + "宽" * 40 + "\n"
        )
        fam, tech, couple = (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "\U0001f9d1\u200d\U0001f4bb",
            ("\U0001f469\u200d\u2764\ufe0f\u200d\U0001f468"),
        )
        flags = "\U0001f1eb\U0001f1f7 \U0001f1e9\U0001f1ea \U0001f1ef\U0001f1f5 \U0001f1fa\U0001f1f8"
        (work / "graphemes.txt").write_text(
            f"ZWJ: {fam} couple: {couple} tech: {tech} rainbow: \U0001f3f3\ufe0f\u200d\U0001f308 end|\n"
            f"flags: {flags} lone: \U0001f1eb odd: \U0001f1eb\U0001f1f7\U0001f1e9|\n"
            "VS16: \u2764\ufe0f \u2764 \u2714\ufe0f \u2600\ufe0f keycaps: 1\ufe0f\u20e3 #\ufe0f\u20e3|\n"
            "combining: e\u0301 n\u0303 o\u0308 a\u0304\u0300 s\u0323\u0307 x\u20dd jamo: \u1100\u1161|\n"
            "skin tones: \U0001f44d\U0001f3fd \U0001f44b\U0001f3ff|\n"
            + "x" * 79
            + fam
            + "|\n"  # a cluster that does not fit: it starts the next row
            + "x" * 78
            + "\U0001f1eb\U0001f1f7|\n"  # a flag in the last two cells
            + "x" * 79
            + "\U0001f1eb\U0001f1f7|\n"  # a flag split by the wrap, as tmux splits it
            + "x" * 79
            + "\u2764\ufe0f\u200d\U0001f525|\n"  # a one-cell cluster in the last cell
            + fam * 40
            + "|\n"  # a row of clusters, exactly full
            # a joiner waits past ASCII for the next non-ASCII character (tmux): the dash joins the "b"
            + "\u4e2d\u200d\u4e2d \u00e9\u200d\u4e2d a\u200db \U0001f468\u200db\u2014|\n"
        )
        (work / "colors.log").write_text(
            "".join(
                f"\x1b[2m10:00:{i:02d}\x1b[0m \x1b[{31 + i % 6}mlevel{i % 6}\x1b[0m "
                f"\x1b[38;5;{i * 7 % 256}mmsg {i}\x1b[0m "
                f"\x1b[1;4mbold-ul\x1b[0m \x1b[48;2;{i * 3};40;90mtruecolour bg\x1b[0m\n"
                for i in range(80)
            )
        )
        for name in ("src", "docs", "build"):
            (work / name).mkdir()
        (work / "run.sh").write_text("#!/bin/sh\necho run\n")
        os.chmod(work / "run.sh", 0o755)
        os.symlink("notes.txt", work / "link.txt")
        git = ["git", "-c", "user.name=Demo", "-c", "user.email=demo@example.com"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=work, check=True)
        for i in range(6):
            (work / "src" / f"mod{i}.py").write_text(f"x = {i}\n" * (i + 1))
            subprocess.run(["git", "add", "-A"], cwd=work, check=True)
            subprocess.run([*git, "commit", "-q", "-m", f"commit number {i}: change module {i}"], cwd=work, check=True)

        streams: dict[str, Callable[[], bytes]] = {}
        bash = ["bash", "--norc", "--noprofile", "-i"]
        streams["ls_color"] = lambda: record(
            bash,
            [(0.4, b"ls --color=auto -F\r"), (0.4, b"ls --color=always -l src\r"), (0.4, b"exit\r")],
            cwd=str(work),
        )
        streams["vim_edit"] = lambda: record(
            ["bash", "--norc", "--noprofile", "-i"],
            [
                (0.4, b"echo before vim\r"),
                (0.3, b"vim -u NONE -N -i NONE --cmd 'syntax on' --cmd 'set nu' prog.py\r"),
                (0.8, b"jjA  # edited\x1b"),
                (0.3, b"Go\x1b"),
                (0.2, b"ihello \xe4\xb8\xad\xe6\x96\x87 world\x1b"),
                (0.3, b":wq\r"),
                (0.6, b"echo after vim\r"),
                (0.3, b"exit\r"),
            ],
            cwd=str(work),
        )
        streams["less"] = lambda: record(
            bash,
            [
                (0.4, b"less -R colors.log\r"),
                (0.6, b" "),
                (0.4, b"G"),
                (0.4, b"g"),
                (0.3, b"/msg 4\r"),
                (0.4, b"q"),
                (0.4, b"exit\r"),
            ],
            cwd=str(work),
        )
        if shutil.which("htop"):
            streams["htop"] = lambda: record(
                ["htop", "-d", "5"], [(1.5, b"\x1b[B\x1b[B"), (0.5, b"q")], cwd=str(work), tail=0.3
            )
        streams["git_log"] = lambda: record(
            bash,
            [
                (0.4, b"git -c color.ui=always log --graph --stat --decorate\r"),
                (0.8, b" "),
                (0.4, b"q"),
                (0.3, b"exit\r"),
            ],
            cwd=str(work),
        )
        prog = (
            "import sys,time\n"
            "for i in range(0,101,4):\n"
            "  bar='#'*(i//4)+'-'*(25-i//4)\n"
            "  sys.stdout.write(f'\\r\\x1b[36m[{bar}]\\x1b[0m {i:3d}%\\x1b[K'); sys.stdout.flush(); time.sleep(0.01)\n"
            "print()\n"
            "for i in range(3):\n"
            "  sys.stdout.write('\\x1b[1;33mstep %d\\x1b[0m working' % i); sys.stdout.flush(); time.sleep(0.01)\n"
            "  sys.stdout.write('\\x1b[2K\\r\\x1b[32m\\u2714\\x1b[0m step %d done\\n' % i)\n"
        )
        streams["progress"] = lambda: record([sys.executable, "-c", prog], [], cwd=str(work))
        streams["graphemes"] = lambda: record(
            bash,
            [
                (0.4, b"cat graphemes.txt\r"),
                # colours change inside a row of clusters; ZWJ sequences split by an SGR still join (tmux)
                # (typed as escapes, so that readline's echo of the command line stays ASCII)
                (
                    0.4,
                    b"printf '\\e[31m\\U1f468\\u200d\\U1f469\\u200d\\U1f467\\e[42m\\U1f1eb\\U1f1f7\\e[0m|"
                    b"\\e[1m\\U1f468\\u200d\\e[34m\\U1f469\\e[0m|\\u2764\\ufe0f\\U1f44d\\U1f3fd|\\n'\r",
                ),
                (0.4, b"exit\r"),
            ],
            cwd=str(work),
        )
        streams["cjk"] = lambda: record(bash, [(0.4, b"cat cjk.txt\r"), (0.4, b"exit\r")], cwd=str(work))
        streams["python_repl"] = lambda: record(
            ["python3", "-q"],
            [
                (0.6, b"1 + 1\r"),
                (0.3, b"for i in range(3):\r"),
                (0.2, b"    print('\\x1b[1;35m', i, '\\x1b[0m')\r"),
                (0.2, b"\r"),
                (0.3, b"'\xe5\xae\xbd' * 3\r"),
                (0.2, b"x = 4\x1b[D\x1b[D\x1b[D7\x01#\r"),  # readline editing: left arrows, ctrl+a
                (0.3, b"\x04"),
            ],
            cwd=str(work),
        )
        if shutil.which("nano"):
            streams["nano"] = lambda: record(
                ["nano", "--ignorercfiles", "notes.txt"],
                [
                    (0.8, b"\x1b[B\x1b[B\x1b[B"),
                    (0.3, b"added by nano "),
                    (0.3, b"\x17fox\r"),  # ctrl+w: search
                    (0.4, b"\x0f"),  # ctrl+o: write out
                    (0.3, b"\r"),
                ],  # left open, so the final screen is nano's (it is killed after the tail)
                cwd=str(work),
            )
        wanted = sys.argv[1:] or list(streams)
        for name in wanted:
            data = streams[name]()
            (HERE / f"{name}.bin").write_bytes(data)
            print(f"{name}: {len(data)} bytes")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
