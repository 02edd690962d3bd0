"""How one file is edited and saved: its `.editorconfig` settings (read from the sandbox) over what its own
content says (indent detected by `content.detect_indent`, line endings as found).

`load_settings` reads the `.editorconfig` of the workspace root and of every folder on the way to the file,
through the sandbox service (they are sandbox files: never read on the host); `apply_settings` folds them into a
`LoadedFile`. An unreadable or missing `.editorconfig` is skipped (logged), never an error shown for the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from services.editorconfig import CONFIG_NAME, MAX_CONFIG_BYTES, EditorConfigFile, Settings, folders_to, parse, resolve
from services.errors import FileNotFound, SandbenchError
from services.sandbox_service import SandboxService
from widgets.editor.content import LoadedFile, newline_of

log = logging.getLogger(__name__)


async def load_settings(service: SandboxService, sandbox_id: str, path: str) -> Settings:
    """The `.editorconfig` settings for `path` (relative to the workspace root)."""

    async def read(folder: str) -> EditorConfigFile | None:
        name = f"{folder}/{CONFIG_NAME}" if folder else CONFIG_NAME
        try:
            data = await service.read_file(sandbox_id, name, limit=MAX_CONFIG_BYTES)
        except FileNotFound:
            return None
        except SandbenchError as exc:
            log.info("ignoring %s: %s", name, exc)
            return None
        if data.truncated:
            log.info("ignoring %s: over %d bytes", name, MAX_CONFIG_BYTES)
            return None
        return parse(data.data.decode("utf-8", "replace"), folder)

    found = await asyncio.gather(*(read(folder) for folder in folders_to(path)))
    return resolve([f for f in found if f is not None], path)


def apply_settings(loaded: LoadedFile, settings: Settings) -> LoadedFile:
    """`loaded` with the editorconfig's indent and newline rules. The file's own line endings win over
    `end_of_line` (which only decides for a file that has none yet): saving never converts them."""
    if loaded.read_only:
        return loaded
    indent_type = loaded.indent_type
    if settings.indent_style is not None:
        indent_type = "tabs" if settings.indent_style == "tab" else "spaces"
    if indent_type == "tabs":
        width = settings.tab_width or settings.indent_size or loaded.indent_width
    else:
        width = settings.indent_width or loaded.indent_width
    return dataclasses.replace(
        loaded,
        indent_type=indent_type,
        indent_width=width,
        final_newline=settings.insert_final_newline is not False,
        newline=newline_of(loaded.text) or settings.newline or "\n",
    )
