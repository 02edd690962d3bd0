"""services.fuzzy: what matches, how it ranks, where the highlights go, and that incremental search changes nothing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.fuzzy import SCORE_BUDGET, FuzzyMatcher, match_one


def _is_subsequence(query: str, text: str) -> bool:
    it = iter(text)
    return all(ch in it for ch in query)


def _corpus(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    words = (
        "src lib app core utils test widgets services models views api handlers config data io net http client "
        "server db schema static assets components hooks store parser render tree node main index name"
    ).split()
    exts = [".py", ".ts", ".md", ".json", ".txt", ".rs"]
    out: set[str] = set()
    while len(out) < n:
        segs = [rnd.choice(words) for _ in range(rnd.randint(1, 5))]
        out.add("/".join([*segs, "_".join(rnd.sample(words, rnd.randint(1, 3))) + rnd.choice(exts)]))
    return sorted(out)


def test_subsequence_is_required() -> None:
    assert match_one("src/deep/module_name.py", "mdnm") is not None
    assert match_one("src/deep/module_name.py", "mdnx") is None
    assert match_one("abc", "cba") is None


def test_positions_point_at_the_matched_characters() -> None:
    path = "src/deep/module_name.py"
    m = match_one(path, "mdnm")
    assert m is not None
    assert m.positions == (9, 11, 16, 18)
    assert "".join(path[p] for p in m.positions) == "mdnm"


def test_smart_case() -> None:
    assert match_one("Makefile", "make") is not None  # lowercase query: any case
    assert match_one("makefile", "Make") is None  # an uppercase letter: exact case
    assert match_one("Makefile", "Make") is not None


def test_segment_and_word_starts_beat_the_middle() -> None:
    seg = match_one("src/main.py", "main")
    mid = match_one("src/domain.py", "main")
    assert seg is not None and mid is not None
    assert seg.score > mid.score


def test_consecutive_beats_scattered() -> None:
    run = match_one("x/zabcz.txt", "abc")
    scattered = match_one("x/zaxxbxxc.txt", "abc")
    assert run is not None and scattered is not None
    assert run.score > scattered.score


def test_basename_beats_folder() -> None:
    base = match_one("lib/other/config.py", "config")
    folder = match_one("lib/config/other.py", "config")
    assert base is not None and folder is not None
    assert base.score > folder.score


def test_basename_alignment_is_preferred_when_better() -> None:
    # the leftmost match would start in "models/", but the basename holds the query at word starts
    m = match_one("models/x/my_data.py", "mda")
    assert m is not None
    assert min(m.positions) >= len("models/x/")


def test_unicode_lowercase_that_changes_length_keeps_positions_valid() -> None:
    path = "dİr/İstanbul.txt"
    m = match_one(path, "stan")
    assert m is not None
    assert "".join(path[p] for p in m.positions).lower() == "stan"


def test_finds_the_target_in_a_big_corpus() -> None:
    paths = [*_corpus(20_000), "src/deep/module_name.py"]
    fm = FuzzyMatcher(paths)
    results = fm.search("deepmodnam", 10)
    assert results[0].path == "src/deep/module_name.py"
    fm2 = FuzzyMatcher([*_corpus(5_000), "src/deep/module_name.py"])
    assert "src/deep/module_name.py" in [m.path for m in fm2.search("mdnm", 50)]


def test_incremental_search_matches_a_fresh_search() -> None:
    paths = _corpus(3_000)
    inc = FuzzyMatcher(paths)
    for k in range(1, 7):
        q = "srcmod"[:k]
        got = inc.search(q, 30)
        if k > 1:
            assert inc.last_incremental
        fresh = FuzzyMatcher(paths)
        want = fresh.search(q, 30)
        assert [(m.path, m.score) for m in got] == [(m.path, m.score) for m in want]


def test_editing_backwards_falls_back_to_a_full_search() -> None:
    fm = FuzzyMatcher(["abc/def.py", "xyz.py"])
    assert [m.path for m in fm.search("de")] == ["abc/def.py"]
    assert [m.path for m in fm.search("x")] == ["xyz.py"]
    assert not fm.last_incremental


def test_short_queries_over_many_paths_score_within_budget() -> None:
    fm = FuzzyMatcher(_corpus(10_000))
    results = fm.search("s", 50)
    assert len(results) == 50
    assert fm.last_candidates > SCORE_BUDGET
    assert fm.last_scored <= SCORE_BUDGET
    # paths holding the query contiguously in the basename come first
    assert all("s" in m.path.rpartition("/")[2] for m in results[:10])


def test_empty_query_lists_shortest_first_and_limit_applies() -> None:
    fm = FuzzyMatcher(["a/b/c.txt", "z.txt", "aa.txt"])
    assert [m.path for m in fm.search("", 2)] == ["z.txt", "aa.txt"]


def test_hostile_paths_do_not_break_the_matcher() -> None:
    paths = ["a\nb.txt", "[bold]x", "\x1b[31mred", "bad\udcffname", "x" * 255, "(((.*)))+"]
    fm = FuzzyMatcher(paths)
    assert fm.search("[bold", 5)[0].path == "[bold]x"
    assert fm.search("(((", 5)[0].path == "(((.*)))+"
    assert fm.search("red", 5)[0].path == "\x1b[31mred"
    assert fm.search("b.txt", 5)[0].path == "a\nb.txt"
    assert fm.search("badname", 5)[0].path == "bad\udcffname"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abcAB/_.-x", min_size=1, max_size=20), min_size=1, max_size=30),
    st.text(alphabet="abcAB/_.x", min_size=1, max_size=4),
)
def test_matches_exactly_the_subsequences(paths: list[str], query: str) -> None:
    fm = FuzzyMatcher(paths)
    got = {m.path: m for m in fm.search(query, 1000)}
    sensitive = query != query.lower()
    for p in set(paths):
        hay, q = (p, query) if sensitive else (p.lower(), query.lower())
        assert (p in got) == _is_subsequence(q, hay), (p, query)
        if p in got:
            pos = got[p].positions
            assert list(pos) == sorted(set(pos))
            assert "".join(hay[i] for i in pos) == q
