"""Preview links of `sandbench serve` (issue 12): what a request through `get_preview_link`'s URL costs over the
same request made inside the sandbox, next to the server.

    .venv/bin/python -m bench.preview

A threaded stdlib HTTP server runs in the sandbox (started by a session command, as agent code does). Its `/direct`
route times N requests to itself from inside its own network namespace — the reference — so the host can alternate
batches of preview requests and batches of direct ones, and load drift hits both alike. Every request is a new
connection to the sandbox's server on both sides (the proxy opens one upstream connection per request).

Prints `metric=value unit` lines:
- preview_first_request_ms: the first request on a link (finding the listening namespace, starting its helper).
- preview_get4k_p50_ms / _p99_ms: GET of a 4 KiB body through the preview URL (httpx, keep-alive to serve).
- direct_get4k_p50_ms: the same GET inside the sandbox (http.client, a new connection each).
- serve_hop_p50_ms: the same client's cheapest authenticated request to serve itself (toolbox-proxy-url), the
  cost of the first of the two hops, alternated with the preview requests.
- preview_added_p50_ms: the difference at p50: two more hops through event loops (client → serve → sandbox).
- preview_download_mib_s / direct_download_mib_s: a 64 MiB body through the preview URL, and inside.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.daytona import p, served_sdk

ROUNDS = 20
BATCH = 10
BIG = 64
PORT = 8090
TOKEN = "X-Daytona-Preview-Token"

SERVER = r"""
import http.client, http.server, json, socketserver, sys, time
from urllib.parse import parse_qs, urlsplit

SMALL = b"x" * 4096
CHUNK = b"y" * (1 << 20)


def direct(path, n):
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", PORT)
        c.request("GET", path)
        r = c.getresponse()
        size = len(r.read())
        c.close()
        took.append((time.perf_counter() - t0) * 1000)
    return took, size


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/direct":
            took, size = direct(q["path"], int(q["n"]))
            self._send(json.dumps({"ms": took, "bytes": size}).encode())
        elif url.path == "/big":
            mib = int(q["mib"])
            self.send_response(200)
            self.send_header("Content-Length", str(mib << 20))
            self.end_headers()
            for _ in range(mib):
                self.wfile.write(CHUNK)
        else:
            self._send(SMALL)

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


PORT = int(sys.argv[1])
S(("127.0.0.1", PORT), H).serve_forever()
"""


async def main() -> None:
    from daytona import CreateSandboxFromSnapshotParams, SessionExecuteRequest

    async with served_sdk() as (client, _proc, serve_port, token):
        sb = await client.create(CreateSandboxFromSnapshotParams(name="bench-preview"), timeout=60)
        await sb.fs.upload_file(SERVER.encode(), "srv.py")
        await sb.process.create_session("web")
        await sb.process.execute_session_command(
            "web", SessionExecuteRequest(command=f"python3 srv.py {PORT}", run_async=True)
        )
        link = await sb.get_preview_link(PORT)
        headers = {TOKEN: link.token}
        async with httpx.AsyncClient(timeout=60, headers=headers) as c:
            # wait for the server inside to listen (502 until it does), straight at the namespace lookup
            deadline = time.monotonic() + 20
            while (await c.get(link.url + "warm")).status_code == 502:
                if time.monotonic() > deadline:
                    raise SystemExit("the server in the sandbox did not start")
                await asyncio.sleep(0.05)
            # the first request to a new server: its namespace is looked up and a helper started for it
            await sb.process.create_session("web2")  # a session runs its commands one after another
            await sb.process.execute_session_command(
                "web2", SessionExecuteRequest(command=f"python3 srv.py {PORT + 1}", run_async=True)
            )
            other = await sb.get_preview_link(PORT + 1)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                r = await c.get(other.url)
                first = (time.perf_counter() - t0) * 1000
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            else:
                raise SystemExit("the second server in the sandbox did not start")
            print(f"preview_first_request_ms={first:.2f} ms")

            preview: list[float] = []
            direct: list[float] = []
            hop: list[float] = []
            hop_url = f"http://127.0.0.1:{serve_port}/api/sandbox/{sb.id}/toolbox-proxy-url"
            auth = {"Authorization": f"Bearer {token}"}
            for _ in range(ROUNDS):
                for _ in range(BATCH):
                    t0 = time.perf_counter()
                    r = await c.get(link.url + "small")
                    preview.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200 and len(r.content) == 4096
                    t0 = time.perf_counter()
                    assert (await c.get(hop_url, headers=auth)).status_code == 200
                    hop.append((time.perf_counter() - t0) * 1000)
                got = (await c.get(link.url + f"direct?path=/small&n={BATCH}")).json()
                assert got["bytes"] == 4096
                direct.extend(got["ms"])
            pp, dp = p(preview, 0.5), p(direct, 0.5)
            print(f"preview_get4k_p50_ms={pp:.2f} ms")
            print(f"preview_get4k_p99_ms={p(preview, 0.99):.2f} ms")
            print(f"direct_get4k_p50_ms={dp:.2f} ms")
            print(f"serve_hop_p50_ms={p(hop, 0.5):.2f} ms")
            print(f"preview_added_p50_ms={pp - dp:.2f} ms")

            t0 = time.perf_counter()
            size = 0
            async with c.stream("GET", link.url + f"big?mib={BIG}") as resp:
                async for chunk in resp.aiter_raw():
                    size += len(chunk)
            took = time.perf_counter() - t0
            assert size == BIG << 20, "bytes were lost"
            print(f"preview_download_mib_s={BIG / took:.0f} MiB/s")
            got = (await c.get(link.url + f"direct?path=%2Fbig%3Fmib%3D{BIG}&n=1")).json()
            print(f"direct_download_mib_s={BIG / (got['ms'][0] / 1000):.0f} MiB/s")
        await sb.delete()


if __name__ == "__main__":
    asyncio.run(main())
