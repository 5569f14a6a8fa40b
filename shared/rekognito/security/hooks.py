"""The security components of ``auth_mode=none`` and ``REKOGNITO_AUDIT=off``: allow everything,
record nothing. The interfaces they implement are in ``rekognito.ports``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rekognito.identity import Principal, RequestInfo


class AllowAll:
    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal | None:
        return None

    def authorize(self, ctx: RequestInfo, params: dict[str, Any]) -> None:
        return None

    def authorize_object_read(self, ctx: RequestInfo, bucket: str, key: str) -> None:
        return None


class NoAudit:
    def record(
        self, ctx: RequestInfo, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        return None

    def append(self, fields: Mapping[str, Any]) -> None:
        return None
