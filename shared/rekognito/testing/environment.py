"""What the environment already configures (credentials, region), and setting it back afterwards."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import botocore.session

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Credential sources that are read from the environment or local files; the others (IMDS,
# containers, SSO, assume-role, processes) would reach the network or run commands.
_LOCAL_CREDENTIAL_SOURCES = {"env", "shared-credentials-file", "config-file"}


_CONFIG_FILE_VARIABLES = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE")
_config_sessions: dict[tuple[str | None, ...], botocore.session.Session] = {}
_config_lock = threading.Lock()


def _configured(check: Callable[[botocore.session.Session], bool]) -> bool:
    """``check`` on a botocore session that reads the AWS config files, kept per set of
    file locations (creating one costs tens of milliseconds); True when the files cannot
    be read."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    key = tuple(os.environ.get(name) for name in _CONFIG_FILE_VARIABLES)
    try:
        with _config_lock:
            session = _config_sessions.get(key)
            if session is None:
                session = _config_sessions[key] = botocore.session.Session()
            return check(session)
    except (BotoCoreError, OSError, ValueError):
        return True  # something is configured, if oddly: leave it alone


def _has_local_credentials() -> bool:
    """Whether credentials are configured in the environment or the AWS config files.

    Sources that would reach the network (instance metadata, SSO, ...) are not tried.
    """
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True

    def from_files(session: botocore.session.Session) -> bool:
        from botocore.credentials import CredentialResolver

        resolver = session.get_component("credential_provider")
        local = [p for p in resolver.providers if getattr(p, "METHOD", "") in _LOCAL_CREDENTIAL_SOURCES]
        return CredentialResolver(local).load_credentials() is not None

    return _configured(from_files)


def _has_region() -> bool:
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return True
    return _configured(lambda session: session.get_config_variable("region") is not None)


class _Environment:
    """Sets environment variables and puts back exactly what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in reversed(self._saved.items()):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


def _scratch_root() -> str | None:
    """A memory-backed folder for temporary data directories where there is one (Linux's
    /dev/shm): the store syncs to disk on every write, which costs a test tens of
    milliseconds per call on a busy disk. None means tempfile's default."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private (0700) directory there
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None
