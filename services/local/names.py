"""What a local sandbox, snapshot or label may be called: the checks `create`, `snapshot` and `set_labels` make
(and `sandbench doctor --repair` when it rebuilds rows from meta.json: services/local/meta.py, repair.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from services.errors import NameRejected

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABEL_VALUE = 256


def validate_sandbox_name(name: str, what: str = "sandbox name") -> str:
    if not NAME_RE.match(name):
        raise NameRejected(
            f"invalid {what} {name[:80]!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_labels(labels: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key):
            raise NameRejected(f"invalid label key {key[:80]!r}")
        # printable only: control characters, C1 escapes (0x9b is a CSI) and bidi overrides are refused here
        # rather than trusted to every place that will ever display a label
        if len(value) > MAX_LABEL_VALUE or not value.isprintable():
            raise NameRejected(f"invalid value for label {key!r}")
        out[key] = value
    return out
