"""The audit key: a secret only the audit writer holds.

It serves two purposes, each through its own derived key:

* the **chain head** (``audit.head``, or the head item in DynamoDB) carries
  ``HMAC-SHA256(head key, "<seq>:<hash>")``: rewriting the head after dropping the last
  entries needs the key;
* **S3 object names** are recorded as ``s3-key-hmac:<bucket>:<HMAC-SHA256(s3 key, "bucket/key")>``
  (the first 128 bits, hex): an object key often holds a person's name, which must not stay
  in the trail after that person is erased, while someone holding the key can still answer
  "was this object used?" (``rekognito audit lookup s3://bucket/key``). Without a key the
  name is withheld (``s3-key-withheld:<bucket>``).

The key is 32 random bytes, hex, in ``<data_dir>/security/audit.key`` (0600, directory 0700,
created by the first audit write) or the file ``REKOGNITO_AUDIT_KEY_FILE`` names. It lives
outside the audit directory so that write access to the trail alone does not give it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_BYTES = 32
PSEUDONYM_HEX = 32


class AuditKeyError(RuntimeError):
    """The key file exists but cannot be used."""


class AuditKey:
    """The key file at ``path``; ``path=None`` means no key (heads unauthenticated, names withheld)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._key: bytes | None = None

    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()

    def load(self, *, create: bool) -> bytes | None:
        """The key; created on first use when ``create`` (writers), else None if absent."""
        if self._key is not None or self.path is None:
            return self._key
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if not create:
                return None
            text = self._create()
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise AuditKeyError(f"{self.path} is not an audit key (64 hex digits)") from exc
        if len(key) != KEY_BYTES:
            raise AuditKeyError(f"{self.path} is not an audit key (64 hex digits)")
        self._key = key
        return key

    def _create(self) -> str:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = secrets.token_hex(KEY_BYTES)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self.path)  # atomic "create if absent", with its content in place
            except FileExistsError:
                return self.path.read_text(encoding="ascii").strip()
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        log.info("audit key created", extra={"path": str(self.path)})
        return text

    def _derived(self, label: str, *, create: bool) -> bytes | None:
        key = self.load(create=create)
        if key is None:
            return None
        return hmac.new(key, label.encode("ascii"), hashlib.sha256).digest()

    def head_mac(self, seq: int, digest: str, *, create: bool = True) -> str | None:
        derived = self._derived("rekognito-audit-head", create=create)
        if derived is None:
            return None
        return hmac.new(derived, f"{seq}:{digest}".encode("ascii"), hashlib.sha256).hexdigest()

    def head_is_authentic(self, seq: int, digest: str, mac: str) -> bool:
        expected = self.head_mac(seq, digest, create=False)
        return expected is not None and hmac.compare_digest(expected, mac)

    def s3_name(self, bucket: str, key: str, *, create: bool = True) -> str:
        """How the audit names the S3 object ``bucket/key``: never the key in clear."""
        derived = self._derived("rekognito-audit-s3-object", create=create)
        if derived is None:
            return f"s3-key-withheld:{bucket}"
        digest = hmac.new(derived, f"{bucket}/{key}".encode(), hashlib.sha256).hexdigest()
        return f"s3-key-hmac:{bucket}:{digest[:PSEUDONYM_HEX]}"
