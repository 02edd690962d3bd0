"""Runs *inside a sandbox*, on a PTY: the bridge between `sandbench serve` and python-lsp-server (`pylsp`).

Started by `services/server/lsp.py` as `python3 -c "$SANDBENCH_LSP"` (this file's source in the environment). It
puts the PTY in raw mode (bytes pass unchanged both ways), sends nothing to stderr (pylsp logs there, and the PTY
would mix it into the protocol), then prints one line — the ready marker, or the missing marker when pylsp cannot
be imported — and hands its standard input and output to pylsp's own stdio server (LSP's Content-Length frames).
Only the standard library before the import of pylsp: it runs on whatever Python the sandbox has.
"""

import os
import sys
import tty


def main() -> None:
    ready = os.environ.pop("SANDBENCH_LSP_READY", "")
    missing = os.environ.pop("SANDBENCH_LSP_MISSING", "")
    cwd = os.environ.pop("SANDBENCH_LSP_CWD", "")
    os.environ.pop("SANDBENCH_LSP", None)
    os.environ.pop("HISTFILE", None)
    tty.setraw(0)  # no echo, no line editing, no signal keys, no newline translation
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    try:
        os.chdir(cwd)
    except OSError:
        out.write(b"%s cwd\n" % missing.encode())
        return
    try:
        from pylsp.python_lsp import PythonLSPServer, start_io_lang_server
    except ImportError:
        out.write(b"%s pylsp\n" % missing.encode())
        return
    out.write(b"%s\n" % ready.encode())
    start_io_lang_server(os.fdopen(0, "rb"), out, False, PythonLSPServer)


if __name__ == "__main__":
    main()
    sys.exit(0)
