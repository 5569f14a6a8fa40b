"""Interfaces of authentication, authorization and the audit trail, as the protocol uses them.

The defaults here allow everything and record nothing; ``rekognito.security`` modules
provide the real implementations, installed in the service container.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rekognito.operations.context import Principal, RequestContext


class Authenticator(Protocol):
    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal | None:
        """The caller of an API Gateway event, or raise a Rekognition auth error."""
        ...


class Authorizer(Protocol):
    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        """Raise ``AccessDeniedException`` unless the caller may run this request."""
        ...

    def authorize_object_read(self, ctx: RequestContext, bucket: str, key: str) -> None:
        """Raise ``InvalidS3ObjectException`` unless the server may read this object for the caller."""
        ...


class AuditSink(Protocol):
    def record(
        self, ctx: RequestContext, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None: ...

    def append(self, fields: Mapping[str, Any]) -> Any:
        """Append one entry as given (write-ahead entries); raise if it is not durable."""
        ...


class AllowAll:
    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal | None:
        return None

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        return None

    def authorize_object_read(self, ctx: RequestContext, bucket: str, key: str) -> None:
        return None


class NoAudit:
    def record(
        self, ctx: RequestContext, params: dict[str, Any], result: dict[str, Any] | None, error: str | None
    ) -> None:
        return None

    def append(self, fields: Mapping[str, Any]) -> None:
        return None
