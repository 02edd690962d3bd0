"""The limits `sandbench serve` keeps under abuse, one frozen value built from its command line (README, "serve").

Transfers are streamed, so these bound what one request may ask for, not what fits in memory: a request over them
is refused with 413 and a message naming the limit and the flag that raises it. PTY sessions outlive their
WebSocket (the SDK's reconnect relies on it), so each identity has a cap, and a session with no client attached is
ended after an idle time. Connections must deliver their request head, and keep a request body flowing, within
the timeouts; an idle keep-alive connection is closed after the header timeout too.

Process sessions (`process.create_session`) are capped per identity too. Their command logs are bounded three ways:
each stream of a command keeps at most `sessions.MAX_LOG` bytes, a session keeps its last `session_max_commands`
commands (the oldest finished one is forgotten first; a session whose kept commands are all still queued or running
refuses another), and an identity's kept logs over all its sessions stay under `session_log_budget_bytes` (the
oldest finished commands are forgotten first; output of running commands past it is dropped, with a note). A session
with no command queued or running and no request for `session_idle_timeout` is deleted; an identity has at most
`follow_max_streams` log-follow WebSockets open. Commands run by the toolbox (exec, code_run, git, search) are
capped per identity while they run; past it a request is refused at once rather than queued. So are workspace
copies (forks, snapshots, creates from a snapshot), which hold the shared worker threads for as long as a whole
workspace takes to read or write.

Preview links proxy into a sandbox's ports: connections open at once are capped per identity, a request body is
capped (413), a response body too (the stream is cut), and the sandbox's server may stay silent only so long (504
before its answer; the stream is ended after). Signed preview URLs alive at once are capped per identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import SandbenchError

MiB = 1024 * 1024


def in_mib(n: float) -> str:
    """`n` bytes as a message shows a limit: `64 MiB`, `0.5 MiB`."""
    return f"{n / MiB:g} MiB"


@dataclass(frozen=True)
class ServeLimits:
    download_max_bytes: int = 1024 * MiB  # file bytes per bulk-download request
    download_max_paths: int = 1000  # paths per bulk-download request
    upload_max_bytes: int = 1024 * MiB  # body bytes per bulk-upload request
    upload_max_files: int = 1000  # files per bulk-upload request
    pty_max_sessions: int = 64  # live PTY sessions per identity, over all its sandboxes
    pty_idle_timeout: float = 600.0  # seconds a PTY session may have no client before it is ended
    session_max_sessions: int = 64  # process sessions per identity, over all its sandboxes
    session_max_commands: int = 100  # commands a process session keeps (finished ones forgotten oldest-first)
    session_log_budget_bytes: int = 256 * MiB  # command logs kept per identity, over all its process sessions
    session_idle_timeout: float = 3600.0  # seconds a process session may be unused before it is deleted
    follow_max_streams: int = 64  # log-follow WebSockets of process-session commands open at once per identity
    exec_max_concurrent: int = 32  # toolbox commands (exec, code_run, git, search) running at once per identity
    copy_max_concurrent: int = 2  # workspace copies (fork, snapshot, create from a snapshot) at once per identity
    volume_max: int = 100  # named volumes per identity (services/volumes.py); past it a create answers 429
    header_timeout: float = 60.0  # seconds to receive a request head (from connect, or the previous response)
    body_timeout: float = 60.0  # seconds for a JSON body; the longest pause within an upload's body
    interpreter_max_contexts: int = 32  # code interpreter contexts (one Python process each) per identity
    interpreter_max_output_bytes: int = 16 * MiB  # output one code interpreter run streams; the rest is dropped
    # preview links (services/server/preview.py)
    preview_max_connections: int = 64  # proxied preview requests and WebSockets open at once per identity
    preview_max_body_bytes: int = 64 * MiB  # request body one preview request may send into the sandbox
    preview_max_response_bytes: int = 1024 * MiB  # response body one preview request may stream back
    preview_timeout: float = 300.0  # seconds the sandbox's server may stay silent (its answer, or mid-stream)
    preview_max_signed: int = 1000  # signed preview URLs alive at once per identity


class OverLimit(SandbenchError):
    """A per-identity cap is reached: 429, which the SDK raises (as `DaytonaRateLimitError`) with the message."""

    title = "Limit reached"
    http_status = 429
    http_code = "LIMIT_REACHED"
