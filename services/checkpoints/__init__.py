"""Checkpoints: named, timestamped states of a sandbox's workspace in a content-addressed store (issue 13 §1).

`store` owns the on-disk layout (blobs, manifests, HEAD, the stat-cache index), `scan` reads a workspace into
entries (metadata first, hashing only what moved), `apply` writes a manifest back, `changes` compares and diffs,
and `service.CheckpointService` is what the CLI and the app call (through `SandboxService.checkpoints`). For
Daytona sandboxes `remote` scans and writes inside the sandbox (`remote_script` is the program it runs there).
"""

from services.checkpoints.service import ChangeSet, CheckpointNotFound, CheckpointService, RestoreResult
from services.checkpoints.store import Checkpoint, Entry

__all__ = ["ChangeSet", "Checkpoint", "CheckpointNotFound", "CheckpointService", "Entry", "RestoreResult"]
