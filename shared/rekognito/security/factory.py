"""Builds the security components the settings ask for.

* ``auth_mode=sigv4`` (``rekognito serve``): SigV4 signatures checked against
  ``<data_dir>/security/principals.json``, grants from the same file; or, when
  ``REKOGNITO_API_ACCESS_KEY_ID`` and ``REKOGNITO_API_SECRET_ACCESS_KEY`` are set (a Lambda
  behind an API Gateway that does not check IAM signatures), against that one key pair.
* ``auth_mode=iam`` (Lambda behind API Gateway ``AWS_IAM``): the caller API Gateway
  verified, grants from ``REKOGNITO_IAM_GRANTS`` (full rights when unset).
* ``auth_mode=none``: everyone is ``anonymous`` with full rights.

The audit sink is DynamoDB when ``REKOGNITO_AUDIT_TABLE`` is set, else the hash-chained
file under ``<data_dir>/audit``; ``REKOGNITO_AUDIT=off`` turns it off. Its key is
``REKOGNITO_AUDIT_KEY_FILE`` (default ``<data_dir>/security/audit.key`` for the file sink).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rekognito.errors import RekognitionError
from rekognito.identity import Principal, RequestInfo
from rekognito.ports import AuditSink, Authenticator, Authorizer
from rekognito.security.hooks import AllowAll, NoAudit
from rekognito.settings import Settings

if TYPE_CHECKING:
    from rekognito.security.audit import DynamoDBAuditSink, FileAuditSink

log = logging.getLogger(__name__)


class Security:
    """The authenticator and authorizer the protocol calls, with failed sign-ins logged."""

    def __init__(self, mode: str, authenticator: Authenticator, authorizer: Authorizer) -> None:
        self.mode = mode
        self.authenticator = authenticator
        self.authorizer = authorizer

    def authenticate(self, event: dict[str, Any], body: bytes) -> Principal | None:
        try:
            return self.authenticator.authenticate(event, body)
        except RekognitionError as error:
            identity = (event.get("requestContext") or {}).get("identity") or {}
            log.warning(
                "authentication failed",
                extra={"error": error.code, "auth_mode": self.mode, "source_ip": identity.get("sourceIp")},
            )
            raise

    def authorize(self, ctx: RequestInfo, params: dict[str, Any]) -> None:
        self.authorizer.authorize(ctx, params)

    def authorize_object_read(self, ctx: RequestInfo, bucket: str, key: str) -> None:
        self.authorizer.authorize_object_read(ctx, bucket, key)


def create_security(settings: Settings) -> Security:
    from rekognito.security.authz import GrantAuthorizer, iam_grants, registry_grants

    if settings.auth_mode == "sigv4" and settings.api_access_key_id and settings.api_secret_access_key:
        from rekognito.security.key_pair import KeyPair
        from rekognito.security.sigv4 import SigV4Authenticator

        key_pair = KeyPair(settings.api_access_key_id, settings.api_secret_access_key)
        return Security(
            "sigv4",
            SigV4Authenticator(key_pair, settings.region),
            GrantAuthorizer(key_pair.grants_of, settings.ingest_bucket),
        )
    if settings.auth_mode == "sigv4":
        from rekognito.security.principals import PrincipalRegistry
        from rekognito.security.sigv4 import SigV4Authenticator

        registry = PrincipalRegistry(settings.data_dir)
        return Security(
            "sigv4",
            SigV4Authenticator(registry, settings.region),
            GrantAuthorizer(registry_grants(registry), settings.ingest_bucket),
        )
    if settings.auth_mode == "iam":
        from rekognito.security.sigv4 import IamAuthenticator

        return Security(
            "iam",
            IamAuthenticator(),
            GrantAuthorizer(iam_grants(settings.iam_grants), settings.ingest_bucket),
        )
    from rekognito.security.sigv4 import AnonymousAuthenticator

    return Security("none", AnonymousAuthenticator(), AllowAll())


def create_audit(settings: Settings) -> AuditSink:
    if not settings.audit_enabled:
        return NoAudit()
    return create_audit_sink(settings)


def create_audit_sink(settings: Settings) -> FileAuditSink | DynamoDBAuditSink:
    """The configured sink (also for ``rekognito audit``, even with ``REKOGNITO_AUDIT=off``)."""
    from rekognito.security.audit import AuditKey, DynamoDBAuditSink, FileAuditSink

    if settings.audit_table:
        # No default key file: each Lambda container has its own /tmp (docs/governance.md).
        return DynamoDBAuditSink(settings.audit_table, settings.region, key=AuditKey(settings.audit_key_file))
    key = AuditKey(settings.audit_key_file or settings.data_dir / "security" / "audit.key")
    return FileAuditSink(settings.data_dir, key=key)
