"""The redactor (services/redact.py) and the bounded output keeper (services/exec_log.py), adversarially: every
shape of secret the audit log and the output store must never hold, cuts that split a secret, crafted output that
would make a naive pattern take seconds, and the bounds on arguments."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.exec_log import OutputKeeper, OutputNotFound, OutputStore
from services.redact import ARGS_MAX, MASK, Redactor

SECRET = "Zq9sEcReTvAlUe42"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cli", "--token", SECRET], ["cli", "--token", MASK]),
        (["cli", f"--token={SECRET}"], ["cli", f"--token={MASK}"]),
        (["cli", "--api-key", SECRET, "--x"], ["cli", "--api-key", MASK, "--x"]),
        (["mysql", f"--password={SECRET}"], ["mysql", f"--password={MASK}"]),
        (["cli", "--client-secret", SECRET], ["cli", "--client-secret", MASK]),
        (["env", f"DB_PASSWORD={SECRET}", "run"], ["env", f"DB_PASSWORD={MASK}", "run"]),
        (["env", f"github_token={SECRET}"], ["env", f"github_token={MASK}"]),
        (["env", f"AWS_SECRET_ACCESS_KEY={SECRET}"], ["env", f"AWS_SECRET_ACCESS_KEY={MASK}"]),
        (["curl", "-H", f"Authorization: Bearer {SECRET}"], ["curl", "-H", f"Authorization: Bearer {MASK}"]),
        (["curl", "-H", f"authorization:basic {SECRET}"], ["curl", "-H", f"authorization:basic {MASK}"]),
        (["git", "clone", f"https://me:{SECRET}@example.com/r.git"], ["git", "clone", f"https://me:{MASK}@example.com/r.git"]),
        (["git", "push", "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/x"], ["git", "push", f"https://{MASK}@github.com/x"]),
        (["sh", "-c", f"export A_TOKEN={SECRET}; x --token {SECRET}"], ["sh", "-c", f"export A_TOKEN={MASK}; x --token {MASK}"]),  # noqa: E501
        (["sh", "-c", f"tool --foo --token {SECRET}"], ["sh", "-c", f"tool --foo --token {MASK}"]),
    ],
)  # fmt: skip
def test_secret_shapes_in_argv_are_masked(argv: list[str], expected: list[str]) -> None:
    out = Redactor().argv(argv)
    assert out == expected
    assert not any(SECRET in a for a in out)


def test_known_secret_values_are_masked_anywhere() -> None:
    r = Redactor([SECRET, None, "short"])
    assert r.argv(["echo", f"x{SECRET}y"]) == ["echo", f"x{MASK}y"]
    assert r.data(b"line 1\nthe key is " + SECRET.encode() + b"\n") == f"line 1\nthe key is {MASK}\n".encode()
    assert r.text("a short word") == "a short word"  # values under 6 characters are not hunted for


def test_env_values_of_secret_named_variables_join_the_redactor() -> None:
    r = Redactor().with_env({"MY_API_KEY": SECRET, "HOME": "/home/sandbox"})
    assert SECRET not in r.data(f"echo {SECRET}".encode()).decode()
    assert "/home/sandbox" in r.text("cd /home/sandbox")


def test_ordinary_arguments_are_left_alone() -> None:
    argv = ["git", "commit", "--author", "Ann <a@example.com>", "-m", "fix: key handling", "AUTHOR=me"]
    assert Redactor().argv(argv) == argv


def test_arguments_are_capped_and_counted() -> None:
    out = Redactor().argv(["x", "a" * 1000, *[str(i) for i in range(200)]])
    assert len(out) == ARGS_MAX
    assert out[1].startswith("a" * 200) and out[1].endswith("(800 more characters)")
    assert out[-1] == f"… {202 - (ARGS_MAX - 1)} more arguments"


def test_a_secret_past_the_cap_is_masked_before_the_cut() -> None:
    arg = "x" * 190 + f" TOKEN={SECRET}"
    out = Redactor([SECRET]).argv([arg])[0]
    assert SECRET[:4] not in out.split("x" * 190)[1]


@pytest.mark.parametrize(
    "crafted",
    ["a." * 40_000, "key" * 30_000, "a:" * 40_000, "x://a:" * 20_000, "--key " * 20_000, "a_key:" * 20_000,
     "Authorization: " * 5_000, "Bearer " * 10_000, "-" * 80_000],
)  # fmt: skip
def test_crafted_output_is_redacted_in_linear_time(crafted: str) -> None:
    t0 = time.process_time()
    Redactor([SECRET]).text(crafted)
    assert time.process_time() - t0 < 1.0  # a backtracking pattern takes seconds to minutes on these


def test_summary_names_the_shell_command() -> None:
    r = Redactor()
    assert r.summary(["/bin/sh", "-c", f"make test TOKEN={SECRET}"]) == f"make test TOKEN={MASK}"
    assert r.summary(["/usr/bin/python3", "x.py", "\x1b[31m"]) == "python3 x.py [31m"
    assert len(r.summary(["echo", "y" * 500])) == 80


def test_keeper_keeps_head_and_tail_with_a_marker() -> None:
    k = OutputKeeper(1000)
    for i in range(1000):
        k.feed(f"line {i:04d}\n".encode())
    out = k.finish(Redactor()).decode()
    assert out.startswith("line 0000\n") and out.endswith("line 0999\n")
    assert len(out) < 1100
    head, marker, tail = out.partition("… ")
    left = int(marker and tail.split(" bytes left out")[0])
    assert left == 10_000 - len(head.rstrip("\n") + "\n") - len(tail.split("…\n", 1)[1])


def test_keeper_never_keeps_a_fragment_of_a_secret_split_by_a_cut() -> None:
    # the secret straddles where the head ends, and where the tail begins: neither half may survive
    for at in range(480, 520, 3):
        k = OutputKeeper(1000)
        k.feed(b"a" * at + SECRET.encode() + b"b" * 5000 + SECRET.encode() + b"c" * (at - 10))
        out = k.finish(Redactor([SECRET]))
        assert out is not None
        for n in range(6, len(SECRET) + 1):
            assert SECRET[:n].encode() not in out and SECRET[-n:].encode() not in out


def test_keeper_bounds_memory_and_short_output_is_whole() -> None:
    k = OutputKeeper(64)
    k.feed(b"x" * 10_000_000)
    assert len(k._head) + len(k._tail) <= 64
    small = OutputKeeper(64)
    small.feed(b"hello ")
    small.feed(b"world")
    assert small.finish(Redactor()) == b"hello world"
    assert OutputKeeper(64).finish(Redactor()) is None
    off = OutputKeeper(0)
    off.feed(b"x")
    assert off.finish(Redactor()) is None


def test_output_store_bounds_bytes_and_count_and_refuses_odd_ids(tmp_path: Path) -> None:
    store = OutputStore(tmp_path, total=100, max_files=3)
    ids = [store.put("box", f"out {i}".encode()) for i in range(5)]
    assert all(ids)
    for gone in ids[:2]:
        with pytest.raises(OutputNotFound):
            store.read("box", str(gone))
    assert [store.read("box", str(i)) for i in ids[2:]] == [b"out 2", b"out 3", b"out 4"]
    assert store.put("box", b"x" * 101) is None  # larger than the whole bound: not kept
    big = store.put("box", b"y" * 90)
    assert big and store.read("box", big) == b"y" * 90
    assert sum(p.stat().st_size for p in (tmp_path / "exec-output" / "box").glob("*.out")) <= 100
    for odd in ("../x", "", "0" * 16, "zzzzzzzzzzzzzzzz-00000000"):
        with pytest.raises(OutputNotFound):
            store.read("box", odd)
