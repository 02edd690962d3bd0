"""The limits `sandbench serve` keeps under abuse, one frozen value built from its command line (README, "serve").

Transfers are streamed, so these bound what one request may ask for, not what fits in memory: a request over them
is refused with 413 and a message naming the limit and the flag that raises it. PTY sessions outlive their
WebSocket (the SDK's reconnect relies on it), so each identity has a cap, and a session with no client attached is
ended after an idle time. Connections must deliver their request head, and keep a request body flowing, within
the timeouts; an idle keep-alive connection is closed after the header timeout too.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeLimits:
    download_max_bytes: int = 1024 * MiB  # file bytes per bulk-download request
    download_max_paths: int = 1000  # paths per bulk-download request
    upload_max_bytes: int = 1024 * MiB  # body bytes per bulk-upload request
    upload_max_files: int = 1000  # files per bulk-upload request
    pty_max_sessions: int = 64  # live PTY sessions per identity, over all its sandboxes
    pty_idle_timeout: float = 600.0  # seconds a PTY session may have no client before it is ended
    header_timeout: float = 60.0  # seconds to receive a request head (from connect, or the previous response)
    body_timeout: float = 60.0  # seconds for a JSON body; the longest pause within an upload's body
    interpreter_max_contexts: int = 32  # code interpreter contexts (one Python process each) per identity
    interpreter_max_output_bytes: int = 16 * MiB  # output one code interpreter run streams; the rest is dropped
