"""Redaction of secrets from what the audit log and the exec output store keep (DESIGN §5: secrets never logged).

One `Redactor` per service: it knows the secret *values* the service handles (the Daytona API key, the git token,
serve's tokens, the values of secret-named variables an exec is given) and the *shapes* secrets take on a command
line or in output:

- an option named like a secret (`--token`, `--api-key`, `--password`, `--client-secret`, `--credentials`…), its
  value in the same argument (`--token=X`) or the next one (`--token X`);
- `NAME=value` where NAME contains TOKEN, KEY, SECRET, PASSWORD, PASSWD, CREDENTIAL or AUTH (any case);
- `Authorization: Bearer X` / `Basic X` / `token X`, and a bare `Bearer X`;
- `user:password@` in a URL (and a lone token used as a URL's user, `https://ghp_…@github.com`);
- well-known token formats (GitHub, GitLab, Slack, AWS access key ids, OpenAI-style `sk-…`, Daytona `dtn_…`).

Each becomes `***`. Over-redacting (`--keyboard-layout uk`) is the safe side of the trade. Arguments are then
capped (`ARG_MAX` characters) and a command line to `ARGS_MAX` arguments, with a count of the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MASK = "***"
ARG_MAX = 200
ARGS_MAX = 64
MIN_SECRET = 6  # shorter known values are not searched for (they would mask ordinary words)

# A secret word in a name: `--token`, `--git-token`, `--apikey`, `DB_PASSWORD`, `client_secret`, `--basic-auth`
_WORD = re.compile(r"token|passw(?:or)?d|passwd|secret|credential|key|auth(?!or)", re.IGNORECASE)
# Names are found first, possessively and only where a name begins, and checked for a secret word after: a pattern
# with the word in the middle of the name backtracks quadratically on crafted output (`keykeykey…`). The value is a
# lookahead so a match never swallows the next option (`--foo --token X`).
_SECRET_OPT = re.compile(r"--?[A-Za-z0-9_-]+")
# (values are looked ahead at most 256 characters, and a masked one is extended to its real end afterwards: an
# unbounded lookahead at every name of `a:a:a:…` is quadratic too)
_OPT_VALUE = re.compile(r"(?<![A-Za-z0-9_-])(--?[A-Za-z0-9_-]++)(?=(?:=|[ \t]++)['\"]?+([^\s'\"]{1,256}+))")
_OPT_REST = re.compile(r"[^\s'\"]*+")
_ASSIGN = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)(?=[ \t]*+[=:][ \t]*+['\"]?+([^\s'\";&|]{1,256}+))")
_ASSIGN_REST = re.compile(r"[^\s'\";&|]*+")
_AUTH = re.compile(r"\b(Authorization[ \t]*[:=][ \t]*['\"]?)([A-Za-z]+[ \t]+)?([^\s'\"]+)", re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer|Basic|Token)([ \t]+)([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*+://)([^/\s:@'\"]*+):([^/\s@'\"]++)@")
_KNOWN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|dtn_[A-Za-z0-9_-]{16,})"
)


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """More secret values to mask wherever they appear (None and short values are ignored)."""
        for v in values:
            if isinstance(v, str) and len(v.strip()) >= MIN_SECRET:
                self._secrets.add(v.strip())

    def with_env(self, env: dict[str, str] | None) -> Redactor:
        """This redactor plus the values of `env`'s secret-named variables (what an exec is given may be echoed)."""
        extra = [v for k, v in (env or {}).items() if _WORD.search(k)]
        if not extra:
            return self
        out = Redactor(self._secrets)
        out.add(*extra)
        return out

    # -- text ---------------------------------------------------------------------------------------------------
    def text(self, s: str) -> str:
        """`s` with every known secret value and every secret-shaped part masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in s:
                s = s.replace(secret, MASK)
        s = _URL_USERINFO.sub(lambda m: f"{m[1]}{m[2]}:{MASK}@", s)
        s = _AUTH.sub(lambda m: f"{m[1]}{m[2] or ''}{MASK}", s)
        s = _BEARER.sub(lambda m: f"{m[1]}{m[2]}{MASK}", s)
        s = _mask_values(_OPT_VALUE, _OPT_REST, s)
        s = _mask_values(_ASSIGN, _ASSIGN_REST, s)
        return _KNOWN.sub(MASK, s)

    def data(self, b: bytes) -> bytes:
        """Output bytes, redacted as `text` (bytes that are not UTF-8 survive as they were, via surrogateescape)."""
        return self.text(b.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    # -- command lines ------------------------------------------------------------------------------------------
    def argv(self, argv: Sequence[str]) -> list[str]:
        """A command line fit for the audit log: redacted, each argument capped, at most ARGS_MAX arguments."""
        out: list[str] = []
        mask_next = False
        for arg in argv:
            if mask_next:
                mask_next = False
                out.append(MASK)
                continue
            # `--token VALUE`: the option alone in its argument, its value the next one
            if _SECRET_OPT.fullmatch(arg) and _WORD.search(arg):
                mask_next = True
                out.append(arg)
                continue
            out.append(_cap(self.text(arg)))
        if len(out) > ARGS_MAX:
            rest = len(out) - (ARGS_MAX - 1)
            out = [*out[: ARGS_MAX - 1], f"… {rest} more arguments"]
        return out

    def summary(self, argv: Sequence[str], width: int = 80) -> str:
        """A short one-line name of a command for messages (`sh -c CMD` shows CMD): redacted, printable."""
        parts = list(argv)
        if len(parts) >= 3 and parts[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "zsh") and parts[1] == "-c":
            words = [parts[2]]
        else:
            words = [parts[0].rsplit("/", 1)[-1], *parts[1:]] if parts else []
        line = " ".join(self.argv(words))
        line = "".join(c if c.isprintable() else " " for c in line)
        line = " ".join(line.split())
        return line if len(line) <= width else line[: width - 1] + "…"


def _mask_values(pattern: re.Pattern[str], rest: re.Pattern[str], s: str) -> str:
    """Mask group 2 (the value, extended by `rest` to its end) of every match of `pattern` whose group 1 (the
    name) holds a secret word."""
    spans = [m.span(2) for m in pattern.finditer(s) if _WORD.search(m[1])]
    if not spans:
        return s
    out: list[str] = []
    at = 0
    for a, b in spans:
        if a < at:
            continue  # overlaps the previous value (`--token=A=B`): already masked
        b = rest.match(s, b).end()  # type: ignore[union-attr]
        out.append(s[at:a])
        out.append(MASK)
        at = b
    out.append(s[at:])
    return "".join(out)


def _cap(arg: str) -> str:
    if len(arg) <= ARG_MAX:
        return arg
    return f"{arg[:ARG_MAX]}… ({len(arg) - ARG_MAX} more characters)"
