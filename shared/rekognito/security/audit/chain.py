"""The hash chain: entry hashes, the authenticated head, checkpoints, verification.

Each entry carries ``seq`` (1, 2, ...), ``prev`` (the ``hash`` of the entry before it,
:data:`GENESIS` for the first) and ``hash`` = SHA-256 of the canonical JSON of the entry
without ``hash`` (sorted keys, no spaces, UTF-8). Editing, deleting, reordering or inserting
an entry breaks the chain at that line.

The chain alone cannot show that its *tail* is gone: drop the last entries and what is left
is a valid chain. Two things close that gap:

* the **head** (``seq``, ``hash`` of the last entry, and an HMAC of both under the audit key,
  see :mod:`.keys`), rewritten by the writer after every append. Verification requires it
  whenever the key exists (a chain was started), requires its HMAC to be right, and requires
  the entries up to it to be there. The head may lag the file by one entry (a crash between
  the two writes), never more;
* a **checkpoint** ``<seq>:<hash>`` printed by ``rekognito audit checkpoint`` and kept
  somewhere else (a ticket, another machine, paper). ``audit verify --expect CHECKPOINT``
  fails unless entry ``seq`` is still there with that hash, which catches truncation and
  deletion even by someone holding the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rekognito.security.audit.keys import AuditKey, AuditKeyError

GENESIS = "0" * 64
_CHECKPOINT = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


def canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def chain(fields: Mapping[str, Any], seq: int, prev: str) -> dict[str, Any]:
    entry = {**fields, "seq": seq, "prev": prev}
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class Head:
    """What the writer last recorded as the end of the chain."""

    seq: int
    hash: str
    mac: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> Head:
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        mac = raw.get("mac")
        return cls(int(raw["seq"]), str(raw["hash"]), str(mac) if mac is not None else None)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"seq": self.seq, "hash": self.hash}
        if self.mac is not None:
            found["mac"] = self.mac
        return found


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        match = _CHECKPOINT.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a checkpoint: expected <seq>:<64 hex digits>")
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head: str
    broken_line: int | None = None
    reason: str | None = None


class HeadUnreadable:
    """A head file that exists but cannot be parsed."""


def verify_lines(
    lines: Iterable[str],
    head: Head | HeadUnreadable | None = None,
    *,
    key: AuditKey | None = None,
    expect: Checkpoint | None = None,
    head_required: bool = False,
    max_lag: int | None = 1,
) -> Verification:
    """Check a chain given as JSON lines in order (line numbers start at 1).

    ``head_required``: a chain with entries must have a head. ``key``: when its file exists,
    the head must exist (even for an empty chain) and carry a valid HMAC. ``expect``: a
    checkpoint the chain must still contain. ``max_lag``: how many entries may follow the
    head (a writer that died between appending and moving the head; None: any number).
    """
    wanted = {c.seq for c in (head, expect) if isinstance(c, Head | Checkpoint)}
    prev = GENESIS
    count = 0
    hashes: dict[int, str] = {0: GENESIS}
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            return Verification(False, count, prev, number, "not a JSON object")
        if entry.get("hash") != entry_hash(entry):
            return Verification(False, count, prev, number, "entry was modified (hash does not match)")
        if entry.get("prev") != prev or entry.get("seq") != number:
            return Verification(
                False,
                count,
                prev,
                number,
                "entry does not follow the previous one (deleted, moved or inserted)",
            )
        prev = str(entry["hash"])
        if number in wanted:
            hashes[number] = prev
        count = number
    keyed = key is not None and key.exists()
    if isinstance(head, HeadUnreadable):
        return Verification(False, count, prev, max(count, 1), "the head is unreadable")
    if head is None:
        if keyed:
            return Verification(
                False,
                count,
                prev,
                max(count, 1),
                f"the head is missing, yet the audit key {key.path if key else ''} shows a trail "
                "was written (trail or head deleted?)",
            )
        if head_required and count:
            return Verification(False, count, prev, count, "the head is missing (deleted?)")
    else:
        if keyed and key is not None:
            try:
                authentic = head.mac is not None and key.head_is_authentic(head.seq, head.hash, head.mac)
            except AuditKeyError as error:
                return Verification(False, count, prev, max(head.seq, 1), str(error))
            if not authentic:
                return Verification(
                    False,
                    count,
                    prev,
                    max(head.seq, 1),
                    "the head is not authenticated by the audit key (rewritten by someone else?)",
                )
        elif head.mac is not None:
            return Verification(
                False,
                count,
                prev,
                max(head.seq, 1),
                "the head carries an HMAC but the audit key is missing: cannot authenticate it",
            )
        if head.seq > count:
            return Verification(False, count, prev, count + 1, f"entries {count + 1}..{head.seq} are missing")
        if hashes.get(head.seq) != head.hash:
            return Verification(
                False, count, prev, max(head.seq, 1), "entry does not match the recorded head"
            )
        if max_lag is not None and count > head.seq + max_lag:
            return Verification(
                False,
                count,
                prev,
                head.seq + max_lag + 1,
                f"entries {head.seq + max_lag + 1}..{count} were added after the recorded head",
            )
    if expect is not None:
        if expect.seq > count:
            return Verification(
                False,
                count,
                prev,
                count + 1,
                f"the checkpoint names entry {expect.seq} but the trail ends at {count}: "
                "entries were removed",
            )
        if hashes.get(expect.seq) != expect.hash:
            return Verification(
                False, count, prev, max(expect.seq, 1), f"entry {expect.seq} is not the one checkpointed"
            )
    return Verification(True, count, prev)
