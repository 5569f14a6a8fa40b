"""The drop-folder convention: which S3 key goes into which collection, under which name.

``<CollectionId>/<name>.<jpg|jpeg|png>`` indexes the photo into ``CollectionId``. Deeper keys
``<CollectionId>/<folder>/.../<name>.jpg`` are accepted too; their folders become part of the
ExternalImageId, joined by ``:`` (``family/alice/beach.jpg`` -> ``alice:beach``), so a
folder-per-person layout keeps the person in the id. The extension is matched without regard
to case and is not part of the id.

The ExternalImageId mapping (Rekognition allows ``[a-zA-Z0-9_.\\-:]+``, at most 255 characters)
is deterministic: NFKD-normalise, drop combining marks (``é`` -> ``e``), map ``/`` to ``:``,
replace every other character outside the pattern by ``_``. When nothing of the name is left
but separators (an all-CJK name, say), or the id would exceed 255 characters, an 8-hex-digit
digest of the original name is appended (after truncation) so distinct names stay distinct.
The original key is kept in the face's source (``s3://bucket/key``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
COLLECTION_ID_PATTERN = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
EXTERNAL_IMAGE_ID_MAX = 255
_DISALLOWED = re.compile(r"[^a-zA-Z0-9_.\-:]")
_MEANINGFUL = re.compile(r"[a-zA-Z0-9]")
_DIGEST_CHARS = 8


class KeyOutsideConvention(ValueError):
    """The key is not ``<CollectionId>/<name>.<jpg|jpeg|png>``."""

    code = "KeyOutsideConvention"


@dataclass(frozen=True)
class DropKey:
    key: str
    collection_id: str
    relative_name: str  # the key below the collection folder, extension included

    @property
    def external_image_id(self) -> str:
        return external_image_id_for(strip_extension(self.relative_name))


def decode_event_key(raw: str) -> str:
    """An S3 notification's ``object.key`` as the real key (``+`` is a space, ``%XX`` UTF-8)."""
    return urllib.parse.unquote_plus(raw, encoding="utf-8", errors="strict")


def is_folder_marker(key: str) -> bool:
    """A zero-byte ``folder/`` object, as the S3 console creates; never an image."""
    return key.endswith("/")


def has_image_extension(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def strip_extension(name: str) -> str:
    lowered = name.lower()
    for extension in IMAGE_EXTENSIONS:
        if lowered.endswith(extension):
            return name[: -len(extension)]
    return name


def parse_drop_key(key: str) -> DropKey:
    collection_id, slash, rest = key.partition("/")
    if not slash or not rest:
        raise KeyOutsideConvention(f"key {key!r} is not <CollectionId>/<name>.jpg|jpeg|png")
    if not COLLECTION_ID_PATTERN.fullmatch(collection_id):
        raise KeyOutsideConvention(f"{collection_id!r} is not a valid CollectionId ([a-zA-Z0-9_.-]+)")
    parts = rest.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise KeyOutsideConvention(f"key {key!r} has an empty or relative path segment")
    if not has_image_extension(parts[-1]) or not strip_extension(parts[-1]):
        raise KeyOutsideConvention(f"key {key!r} does not name a .jpg, .jpeg or .png file")
    return DropKey(key=key, collection_id=collection_id, relative_name=rest)


def external_image_id_for(name: str) -> str:
    """Map a name (a relative path without extension) into Rekognition's ExternalImageId pattern."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    mapped = _DISALLOWED.sub("_", kept.replace("/", ":"))
    lossy = not _MEANINGFUL.search(mapped)
    if not lossy and len(mapped) <= EXTERNAL_IMAGE_ID_MAX:
        return mapped
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    head = mapped[: EXTERNAL_IMAGE_ID_MAX - _DIGEST_CHARS - 1]
    return f"{head}-{digest}" if head else digest
