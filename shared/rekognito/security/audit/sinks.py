"""Where the chain is stored.

* :class:`FileAuditSink`: ``<data_dir>/audit/audit.jsonl`` (0600, directory 0700), appended
  under an exclusive ``flock`` with ``fsync``, so several processes (the server, the
  retention job, the CLI) extend one chain. ``audit.head`` holds the last ``seq`` and
  ``hash`` with their HMAC under the audit key (see :mod:`.chain`).
* :class:`DynamoDBAuditSink` (``REKOGNITO_AUDIT_TABLE``): items with partition key
  ``stream`` = ``"audit"`` and sort key ``seq`` (number), written with a conditional put
  (``attribute_not_exists``) so two writers cannot fork the chain: the loser re-reads the
  head and retries. One partition key serialises writes (about a thousand entries a
  second), which is plenty for an audit trail. The head is the item ``stream`` =
  ``"audit-head"``, ``seq`` = 0, moved forward with a conditional put after each entry.

Both raise on any failure to write: callers decide what a missing entry means (see
:mod:`.write_ahead`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from rekognito.identity import RequestInfo
from rekognito.policy import json_safe
from rekognito.security.audit.chain import (
    GENESIS,
    Checkpoint,
    Head,
    HeadUnreadable,
    Verification,
    canonical,
    chain,
    verify_lines,
)
from rekognito.security.audit.entries import describe_request
from rekognito.security.audit.keys import AuditKey

log = logging.getLogger("rekognito.security.audit")

STREAM = "audit"
HEAD_STREAM = "audit-head"

Clock = Callable[[], float]


def _last_line(handle: BinaryIO) -> bytes:
    """The last non-empty line of a binary file open for reading."""
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    position = end
    tail = b""
    while position > 0:
        step = min(65536, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        stripped = tail.rstrip(b"\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return stripped[cut + 1 :]
    return tail.rstrip(b"\n")


class FileAuditSink:
    """JSON lines under ``<data_dir>/audit``, one hash chain, safe across processes."""

    def __init__(self, data_dir: Path, clock: Clock = time.time, key: AuditKey | None = None) -> None:
        self.directory = data_dir / "audit"
        self.path = self.directory / "audit.jsonl"
        self.head_path = self.directory / "audit.head"
        self.key = key if key is not None else AuditKey(data_dir / "security" / "audit.key")
        self._clock = clock

    def s3_name(self, bucket: str, key: str) -> str:
        return self.key.s3_name(bucket, key)

    def record(
        self, ctx: RequestInfo, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        self.append(describe_request(ctx, params, result, error, self._clock(), self.s3_name))

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            last = _last_line(handle)
            seq, prev = 1, GENESIS
            if last:
                previous = json.loads(last)
                seq, prev = int(previous["seq"]) + 1, str(previous["hash"])
            entry = chain(json_safe(dict(fields)), seq, prev)
            mac = self.key.head_mac(seq, str(entry["hash"]))  # creates the key on the first write
            handle.seek(0, os.SEEK_END)
            handle.write(canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            self._write_head(Head(seq, str(entry["hash"]), mac))
        return entry

    def _write_head(self, head: Head) -> None:
        tmp = self.head_path.with_name(f".audit.head.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(head.as_dict()).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.head_path)

    def head(self) -> Head | HeadUnreadable | None:
        try:
            return Head.parse(json.loads(self.head_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return HeadUnreadable()

    def _lines(self) -> Iterator[str]:
        with contextlib.suppress(FileNotFoundError), self.path.open(encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")

    def entries(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            if line:
                yield json.loads(line)

    def verify(self, expect: Checkpoint | None = None) -> Verification:
        return verify_lines(self._lines(), self.head(), key=self.key, expect=expect, head_required=True)

    def describe(self) -> str:
        return str(self.path)


class AuditConflictError(RuntimeError):
    """Writers kept racing for the next sequence number; the entry was not recorded."""


class DynamoDBAuditSink:
    """The chain as items of a DynamoDB table (``stream`` = "audit", ``seq`` = 1, 2, ...)."""

    MAX_ATTEMPTS = 20

    def __init__(
        self,
        table: str,
        region: str,
        client: Any = None,
        clock: Clock = time.time,
        key: AuditKey | None = None,
    ) -> None:
        self.table = table
        self.region = region
        self.key = key if key is not None else AuditKey(None)
        self._client = client
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb", region_name=self.region)
        return self._client

    def s3_name(self, bucket: str, key: str) -> str:
        return self.key.s3_name(bucket, key)

    def record(
        self, ctx: RequestInfo, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        self.append(describe_request(ctx, params, result, error, self._clock(), self.s3_name))

    def _last(self) -> tuple[int, str]:
        found = self.client.query(
            TableName=self.table,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": "stream"},
            ExpressionAttributeValues={":p": {"S": STREAM}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        if not found:
            return 0, GENESIS
        return int(found[0]["seq"]["N"]), str(found[0]["hash"]["S"])

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        safe = json_safe(dict(fields))
        for attempt in range(self.MAX_ATTEMPTS):
            last_seq, prev = self._last()
            entry = chain(safe, last_seq + 1, prev)
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        "stream": {"S": STREAM},
                        "seq": {"N": str(entry["seq"])},
                        "hash": {"S": entry["hash"]},
                        "entry": {"S": canonical(entry).decode("utf-8")},
                    },
                    ConditionExpression="attribute_not_exists(#s)",
                    ExpressionAttributeNames={"#s": "seq"},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                log.info("audit append raced, retrying", extra={"seq": entry["seq"], "attempt": attempt + 1})
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
                continue
            seq, digest = int(entry["seq"]), str(entry["hash"])
            self._advance_head(Head(seq, digest, self.key.head_mac(seq, digest)))
            return entry
        raise AuditConflictError(
            f"could not append to audit table {self.table} after {self.MAX_ATTEMPTS} tries"
        )

    def _advance_head(self, head: Head) -> None:
        """Move the head item forward to ``head`` unless another writer already went further."""
        from botocore.exceptions import ClientError

        item: dict[str, Any] = {
            "stream": {"S": HEAD_STREAM},
            "seq": {"N": "0"},
            "head_seq": {"N": str(head.seq)},
            "hash": {"S": head.hash},
        }
        if head.mac is not None:
            item["mac"] = {"S": head.mac}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#h) OR #h < :n",
                ExpressionAttributeNames={"#h": "head_seq"},
                ExpressionAttributeValues={":n": {"N": str(head.seq)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def head(self) -> Head | HeadUnreadable | None:
        item = self.client.get_item(
            TableName=self.table,
            Key={"stream": {"S": HEAD_STREAM}, "seq": {"N": "0"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        try:
            mac = item.get("mac", {}).get("S")
            return Head(int(item["head_seq"]["N"]), str(item["hash"]["S"]), mac)
        except (KeyError, ValueError, TypeError):
            return HeadUnreadable()

    def _lines(self) -> Iterator[str]:
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": "stream"},
            ExpressionAttributeValues={":p": {"S": STREAM}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield str(item["entry"]["S"])

    def entries(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            yield json.loads(line)

    def verify(self, expect: Checkpoint | None = None) -> Verification:
        # Concurrent writers move the head out of order: entries may run ahead of it.
        return verify_lines(
            self._lines(), self.head(), key=self.key, expect=expect, head_required=True, max_lag=None
        )

    def describe(self) -> str:
        return f"dynamodb table {self.table}"
