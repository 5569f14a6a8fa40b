"""What logs may say about an S3 key or a file path: a digest, never the name itself.

Keys and paths of photos usually hold people's names (``family/Renee Dupont.jpg``). Logs
carry :func:`key_digest` instead: the same key always gives the same value, so an operator
who knows the key can find its lines (``rekognito`` prints nothing that reverses it).
"""

from __future__ import annotations

import hashlib

DIGEST_CHARS = 16


def key_digest(key: str) -> str:
    """The first 16 hex digits of the sha256 of ``key`` (UTF-8)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def without_key(text: str, key: str) -> str:
    """``text`` (an error message) with ``key`` replaced by its digest."""
    return text.replace(key, f"<key {key_digest(key)}>") if key else text
