"""Keys typed into a terminal held by the session host leave in the same turn of the event loop (`write_now`), and
still arrive in the order they were typed: after a paste too big for the socket's buffer, after a focus report
still on its way, the program reads everything once and in order (sha256 of the file it wrote)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from textual import events

from services.config import Config
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_session_host import app_service, hosted  # noqa: F401 - the hosted service's fixture
from tests.services.test_terminal_input import paste_text
from tests.widgets.test_terminal_pane import TermApp, ready, text, type_text, view

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


@pytest.fixture
async def hosted_box(app_service: SandboxService) -> AsyncIterator[SandboxInfo]:  # noqa: F811
    yield await app_service.create(SandboxSpec(name="box"))


async def test_keys_after_a_big_paste_arrive_whole_and_in_order(
    app_service: SandboxService,  # noqa: F811
    hosted_box: SandboxInfo,
    config: Config,
) -> None:
    paste = paste_text(256 * 1024).decode()
    app = TermApp(app_service, hosted_box.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await ready(pilot)
        term = view(app)
        assert callable(getattr(term.session, "write_now", None)), "a terminal of the session host"
        await type_text(pilot, "stty -echo; cat > pasted.txt\n")
        await wait_until(pilot, lambda: "stty -echo" in text(app), "the command typed")
        term.screen_model.focus_events = True  # as vim asks (mode 1004): focus reports go in the background
        term.on_blur()  # its report is a task that has not run yet ...
        await term.on_key(events.Key("k", "k"))  # ... when a key is typed: the key must not overtake it
        term.post_message(events.Paste(paste))
        term.on_focus()
        await type_text(pilot, "tail")
        await pilot.press("enter")
        await pilot.press("ctrl+d")
        await type_text(pilot, "stty echo; echo DO''NE\n")
        await wait_until(pilot, lambda: "DONE" in text(app), "the shell back", timeout=60, show=lambda: text(app))
    got = (await app_service.read_file(hosted_box.id, "pasted.txt", limit=4 << 20)).data
    want = b"\x1b[Ok\x1b[I" + paste.encode() + b"tail\n"
    assert (len(got), hashlib.sha256(got).hexdigest()) == (len(want), hashlib.sha256(want).hexdigest()), got[:80]
