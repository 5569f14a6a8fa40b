"""One principal whose key pair comes from the environment: the function's own SigV4 check.

Behind API Gateway on AWS the API uses ``AWS_IAM`` authorisation (``auth_mode=iam``). Where
API Gateway does not enforce it (LocalStack imports the REST API without its ``awsSigv4``
security scheme), the template's ``ApiAuth=FUNCTION`` has the function check signatures
itself, against the key pair of ``REKOGNITO_API_ACCESS_KEY_ID`` and
``REKOGNITO_API_SECRET_ACCESS_KEY``, for a principal with full rights. For development
stacks: on AWS keep ``ApiAuth=IAM``.
"""

from __future__ import annotations

import secrets

from rekognito.identity import Principal
from rekognito.security.principals import Grant, StoredPrincipal

PRINCIPAL_NAME = "api-key"
FULL_RIGHTS = (Grant("*", "*"),)


class KeyPair:
    def __init__(self, access_key_id: str, secret: str, name: str = PRINCIPAL_NAME) -> None:
        self._secret = secret
        self._principal = StoredPrincipal(
            name=name, access_key_id=access_key_id, grants=FULL_RIGHTS, created_at="", encrypted_secret=""
        )

    def by_access_key(self, access_key_id: str) -> StoredPrincipal | None:
        if secrets.compare_digest(self._principal.access_key_id, access_key_id):
            return self._principal
        return None

    def secret_of(self, principal: StoredPrincipal) -> str:
        return self._secret

    def grants_of(self, principal: Principal) -> tuple[Grant, ...]:
        return self._principal.grants if principal.name == self._principal.name else ()
