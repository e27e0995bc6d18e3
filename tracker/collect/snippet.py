"""The snippet as served: the commented source of ``static/t.js`` with comment lines removed,
gzipped once, with an ETag. Keeps the source readable and the download under 4 KB gzipped."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tracker.db import PROJECT_ROOT

SNIPPET_PATH = PROJECT_ROOT / "static" / "t.js"
# Whole-line comments and trailing "  // …" comments; the snippet's code never contains
# two spaces before "//" (its only "//" inside strings is in no such position).
_LINE_COMMENT = re.compile(r"^\s*//.*\n", re.MULTILINE)
_TRAILING_COMMENT = re.compile(r"  // .*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str


def strip_comments(source: str) -> str:
    return _TRAILING_COMMENT.sub("", _LINE_COMMENT.sub("", source))


@lru_cache(maxsize=1)
def load_snippet(path: Path = SNIPPET_PATH) -> Snippet:
    body = strip_comments(path.read_text(encoding="utf-8")).encode()
    return Snippet(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:20],
    )
