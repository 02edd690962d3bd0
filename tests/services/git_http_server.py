"""A tiny smart-HTTP git server for tests, run INSIDE a sandbox: `git http-backend` (CGI) behind basic auth.

Each exec in a local sandbox has its own network namespace, so the server cannot outlive one exec and be reached
from the next. This script is therefore also a wrapper: it binds 127.0.0.1:PORT, serves in a thread, runs the
rest of its argv (a git command) and exits with that command's code — the server and the client share one
sandbox process tree and one loopback.

    python3 git_http_server.py ROOT PORT -- git push ...

ROOT holds `repos/` (bare repositories, served at /NAME.git) and `password` (the one accepted password; any user
name). Requests without it get 401, as a private forge would answer.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
PORT = int(sys.argv[2])
COMMAND = sys.argv[sys.argv.index("--") + 1 :]
BACKEND = "/usr/lib/git-core/git-http-backend"


def password() -> str:
    with open(os.path.join(ROOT, "password"), encoding="utf-8") as f:
        return f.read().strip()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        with open(os.path.join(ROOT, "access.log"), "a", encoding="utf-8") as f:
            f.write(f"{self.command} {self.path} {self.headers.get('Authorization', '-')[:6]}\n")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
            if p == password():
                user = u
        body = self._body()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": os.path.join(ROOT, "repos"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        r = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False)
        head, _, payload = r.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    # shutdown() waits for serve_forever to look at its flag, once per poll interval: at the default 0.5 s, every
    # git command run through this wrapper took half a second longer than git itself
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        return subprocess.run(COMMAND, check=False).returncode
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
