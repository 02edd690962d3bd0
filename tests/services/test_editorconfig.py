"""The .editorconfig parser and resolver (pure): globs, precedence, root = true, property values."""

from __future__ import annotations

import pytest

from services.editorconfig import Settings, folders_to, matches, parse, resolve

ROOT = """\
root = true

[*]
indent_style = space
indent_size = 4
insert_final_newline = true
end_of_line = lf

# Makefiles need tabs
[Makefile]
indent_style = tab

[*.{js,ts}]
indent_size = 2

[*.go]
indent_style = tab
tab_width = 8
indent_size = tab
"""


@pytest.mark.parametrize(
    ("glob", "folder", "path", "expected"),
    [
        ("*", "", "a.py", True),
        ("*", "", "deep/down/a.py", True),
        ("*.py", "", "src/a.py", True),
        ("*.py", "", "src/a.pyc", False),
        ("*.{js,ts}", "", "web/app.ts", True),
        ("*.{js,ts}", "", "web/app.tsx", False),
        ("Makefile", "", "sub/Makefile", True),
        ("src/*.c", "", "src/a.c", True),
        ("src/*.c", "", "src/x/a.c", False),
        ("src/**.c", "", "src/x/a.c", True),
        ("/src/*.c", "", "src/a.c", True),
        ("*.py", "lib", "lib/a.py", True),
        ("*.py", "lib", "other/a.py", False),
        ("file?.txt", "", "file1.txt", True),
        ("file[0-9].txt", "", "filex.txt", False),
        ("file[!0-9].txt", "", "filex.txt", True),
        ("a{1..3}.txt", "", "a2.txt", True),
        ("a{1..3}.txt", "", "a4.txt", False),
        ("{single}.txt", "", "single.txt", False),
        ("{single}.txt", "", "{single}.txt", True),
        ("*.{py,{js,ts}}", "", "x.ts", True),
    ],
)
def test_globs(glob: str, folder: str, path: str, expected: bool) -> None:
    assert matches(glob, folder, path) is expected


def test_sections_resolve_in_order() -> None:
    root = parse(ROOT)
    assert root.root
    assert resolve([root], "a.py") == Settings("space", 4, None, True, "lf")
    assert resolve([root], "tools/Makefile").indent_style == "tab"
    assert resolve([root], "web/app.js").indent_size == 2
    go = resolve([root], "cmd/main.go")
    assert (go.indent_style, go.indent_width, go.tab_width) == ("tab", 8, 8)
    assert resolve([root], "a.py").newline == "\n"


def test_closer_file_overrides_and_root_true_cuts_the_chain() -> None:
    outer = parse("[*]\nindent_size = 8\ninsert_final_newline = false\n", "")
    inner = parse("[*.py]\nindent_size = 3\n", "pkg")
    assert resolve([outer, inner], "pkg/a.py").indent_size == 3
    assert resolve([outer, inner], "pkg/a.py").insert_final_newline is False
    assert resolve([outer, inner], "a.py").indent_size == 8  # pkg's file does not reach outside pkg
    rooted = parse("root = true\n[*.txt]\nindent_style = tab\n", "pkg")
    settings = resolve([outer, rooted], "pkg/a.txt")
    assert settings.indent_style == "tab"
    assert settings.insert_final_newline is None  # the outer file is cut off by root = true


def test_values_are_case_insensitive_and_bad_values_ignored() -> None:
    config = parse(
        "[*]\nIndent_Style = TAB\nindent_size = lots\ntab_width = 0\nend_of_line = CRLF\ninsert_final_newline = maybe\n"
        "this line is nonsense\n[unclosed\n"
    )
    settings = resolve([config], "x")
    assert settings == Settings("tab", None, None, None, "crlf")
    assert settings.newline == "\r\n"


def test_folders_to() -> None:
    assert folders_to("a.py") == [""]
    assert folders_to("a/b/c.py") == ["", "a", "a/b"]
