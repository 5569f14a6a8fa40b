"""Principals of the local endpoint: access keys, their secrets and their grants.

Stored in ``<data_dir>/security/principals.json`` (mode 0600, directory 0700)::

    {"version": 1, "principals": {"admin": {"access_key_id": "AKRK...", "secret": "<Fernet token>",
                                            "grants": ["*:*"], "created_at": "2024-...Z"}}}

Secret storage
--------------
SigV4 cannot be checked against a one-way hash: the verifier must recompute
``HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`` for the
date of each request, so it needs the secret itself (a key derived for one date is useless
the next day, and ``"AWS4" + secret`` *is* the secret). The options were:

* store the secret in clear: a copy of ``principals.json`` (a backup, a support bundle)
  hands out working credentials;
* store it encrypted with a key kept elsewhere (KMS, an HSM): the right thing on AWS, but
  on AWS the API runs in ``iam`` mode and API Gateway checks signatures, so no secret
  is stored at all;
* store it encrypted with a local key file: what we do. Secrets are Fernet tokens
  (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under ``<data_dir>/security/master.key``
  (0600, created on first use). It protects ``principals.json`` copied on its own (backups,
  bug reports, a mistaken ``git add``), not an attacker who can read the whole data
  directory as the server's user: such an attacker can read the faces anyway. Keep
  ``master.key`` out of backups that leave the machine, or back it up separately.

The file is rewritten atomically (temporary file + ``os.replace``) under an exclusive
``flock`` on ``principals.lock``, so CLI commands and a running server do not lose each
other's changes; readers reload it when its modification time changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

ACTIONS = ("administer", "index", "search", "delete", "audit", "detect", "s3read")
# ``s3read:<bucket>/<key prefix>*``: S3Object images the server may read for the principal
# (rekognito.security.authz.object_read_allowed); its pattern names an object, not a collection.
S3_READ = "s3read"
_S3_PATTERN = re.compile(r"^(\*|[a-z0-9][a-z0-9.\-]{1,62}(/[^*\x00-\x1f]{0,1024})?\*?)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+=-]{0,63}$")
_PATTERN = re.compile(r"^(\*|[a-zA-Z0-9_.\-]{1,255}\*?)$")
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class PrincipalError(ValueError):
    """A principal or grant the caller asked for cannot be created as given."""


@dataclass(frozen=True)
class Grant:
    """``action`` on the collections matching ``pattern`` (``*``, an exact id, or ``prefix*``)."""

    action: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``'search:family'``, ``'index:family*'``, ``'detect'``, ``'*'`` (= ``'*:*'``)."""
        action, _, pattern = text.strip().partition(":")
        pattern = pattern or "*"
        if action != "*" and action not in ACTIONS:
            raise PrincipalError(
                f"unknown action {action!r} in grant {text!r}: use one of *, {', '.join(ACTIONS)}"
            )
        if action == S3_READ:
            if not _S3_PATTERN.match(pattern):
                raise PrincipalError(
                    f"bad S3 pattern {pattern!r} in grant {text!r}: use *, bucket/key or bucket/prefix*"
                )
            return cls(action, pattern)
        if not _PATTERN.match(pattern):
            raise PrincipalError(
                f"bad collection pattern {pattern!r} in grant {text!r}: use *, an id, or prefix*"
            )
        return cls(action, pattern)

    def __str__(self) -> str:
        return f"{self.action}:{self.pattern}"

    def allows(self, action: str, collection_id: str | None) -> bool:
        if self.action not in ("*", action):
            return False
        if collection_id is None or self.pattern == "*":
            return True
        if self.pattern.endswith("*"):
            return collection_id.startswith(self.pattern[:-1])
        return collection_id == self.pattern


def grants_allow(grants: tuple[Grant, ...], action: str, collection_id: str | None) -> bool:
    return any(grant.allows(action, collection_id) for grant in grants)


@dataclass(frozen=True)
class StoredPrincipal:
    name: str
    access_key_id: str
    grants: tuple[Grant, ...]
    created_at: str
    encrypted_secret: str = field(repr=False)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_access_key_id() -> str:
    return "AKRK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return secrets.token_urlsafe(30)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class PrincipalRegistry:
    """Reads and changes ``<data_dir>/security/principals.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "security"
        self.path = self.directory / "principals.json"
        self.key_path = self.directory / "master.key"
        self._lock = threading.Lock()
        self._cache_stamp: tuple[int, int] | None = None
        self._cache: dict[str, StoredPrincipal] = {}
        self._fernet: Fernet | None = None

    # -- files ----------------------------------------------------------------------------

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)

    def _cipher(self) -> Fernet:
        from cryptography.fernet import Fernet  # only sigv4 mode stores secrets; Lambda never loads it

        if self._fernet is not None:
            return self._fernet
        self._ensure_directory()
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = self.key_path.read_bytes().strip()
        else:
            key = Fernet.generate_key()
            with os.fdopen(fd, "wb") as handle:
                handle.write(key + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            log.info("master key created", extra={"path": str(self.key_path)})
        self._fernet = Fernet(key)
        return self._fernet

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._ensure_directory()
        fd = os.open(self.directory / "principals.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_raw(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "principals": {}}
        if not isinstance(raw, dict) or not isinstance(raw.get("principals"), dict):
            raise PrincipalError(f"{self.path} is not a principals file")
        return raw

    def _write_raw(self, raw: dict[str, Any]) -> None:
        write_private(self.path, (json.dumps(raw, indent=2, sort_keys=True) + "\n").encode("utf-8"))

    @staticmethod
    def _principal(name: str, entry: dict[str, Any]) -> StoredPrincipal:
        return StoredPrincipal(
            name=name,
            access_key_id=str(entry["access_key_id"]),
            grants=tuple(Grant.parse(text) for text in entry.get("grants", [])),
            created_at=str(entry.get("created_at", "")),
            encrypted_secret=str(entry["secret"]),
        )

    # -- reading --------------------------------------------------------------------------

    def principals(self) -> dict[str, StoredPrincipal]:
        """All principals by name, re-read when the file changed."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._cache_stamp:
                raw = self._read_raw()
                self._cache = {name: self._principal(name, e) for name, e in raw["principals"].items()}
                self._cache_stamp = stamp
            return dict(self._cache)

    def get(self, name: str) -> StoredPrincipal | None:
        return self.principals().get(name)

    def by_access_key(self, access_key_id: str) -> StoredPrincipal | None:
        for principal in self.principals().values():
            if secrets.compare_digest(principal.access_key_id, access_key_id):
                return principal
        return None

    def secret_of(self, principal: StoredPrincipal) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._cipher().decrypt(principal.encrypted_secret.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise PrincipalError(
                f"the secret of {principal.name} cannot be decrypted with {self.key_path}"
            ) from exc

    # -- changing -------------------------------------------------------------------------

    def create(self, name: str, grants: Sequence[str]) -> tuple[StoredPrincipal, str]:
        """Create ``name`` with ``grants``; return it and its secret (shown once, never again)."""
        if not _NAME.match(name):
            raise PrincipalError(f"bad principal name {name!r}: letters, digits and _.@+=- (max 64)")
        parsed = [str(Grant.parse(text)) for text in grants]
        secret = new_secret()
        with self._exclusive():
            raw = self._read_raw()
            if name in raw["principals"]:
                raise PrincipalError(f"principal {name} already exists")
            raw["principals"][name] = {
                "access_key_id": new_access_key_id(),
                "secret": self._cipher().encrypt(secret.encode("utf-8")).decode("ascii"),
                "grants": list(dict.fromkeys(parsed)),
                "created_at": _now_iso(),
            }
            self._write_raw(raw)
            created = self._principal(name, raw["principals"][name])
        return created, secret

    def delete(self, name: str) -> None:
        with self._exclusive():
            raw = self._read_raw()
            if raw["principals"].pop(name, None) is None:
                raise PrincipalError(f"no principal named {name}")
            self._write_raw(raw)

    def change_grants(
        self, name: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> StoredPrincipal:
        added = [str(Grant.parse(text)) for text in add]
        removed = {str(Grant.parse(text)) for text in remove}
        with self._exclusive():
            raw = self._read_raw()
            entry = raw["principals"].get(name)
            if entry is None:
                raise PrincipalError(f"no principal named {name}")
            current = [g for g in entry.get("grants", []) if g not in removed]
            entry["grants"] = list(dict.fromkeys(current + added))
            self._write_raw(raw)
            return self._principal(name, entry)
