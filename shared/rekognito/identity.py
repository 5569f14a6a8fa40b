"""Who is asking: the caller of a request, and what authorisation and the audit trail read of it.

A leaf module (it imports nothing of rekognito), so that the security code, the audit trail
and the operations can all name a caller without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Principal:
    """Who is calling: an access key id (local SigV4) or an IAM ARN (API Gateway)."""

    name: str
    access_key_id: str | None = None
    arn: str | None = None


class RequestInfo(Protocol):
    """Who asks for what: all that the authorizer and the audit trail read of a request.

    :class:`rekognito.request.RequestContext` is one; anything with these attributes is.
    """

    request_id: str
    operation: str
    principal: Principal | None
    # Filled by operations for the audit trail: anything worth recording beyond the
    # request's own parameters (e.g. the collection a FaceId belonged to).
    audit: dict[str, Any]
