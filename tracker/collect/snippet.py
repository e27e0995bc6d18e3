"""The snippet as served: ``static/t.js`` minified (comments and whitespace gone, local names
shortened), gzipped once, with an ETag. Keeps the source readable and the download under
4 KB gzipped."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print

from tracker.db import PROJECT_ROOT

SNIPPET_PATH = PROJECT_ROOT / "static" / "t.js"


@dataclass(frozen=True, slots=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str


def minify(source: str) -> str:
    """ES5 ``source`` with its local names shortened; globals (``window``, ``leadtrail``)
    keep theirs."""
    return str(minify_print(es5(source), obfuscate=True, obfuscate_globals=False))


@lru_cache(maxsize=1)
def load_snippet(path: Path = SNIPPET_PATH) -> Snippet:
    body = minify(path.read_text(encoding="utf-8")).encode()
    return Snippet(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:20],
    )
