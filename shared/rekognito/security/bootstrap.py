"""First-start set-up of credentials for the local endpoint.

The ``admin`` principal it creates (grant ``*:*``) is audited like any principal change:
a write-ahead ``create_principal`` entry by ``system:bootstrap`` before the principal exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rekognito.identity import Principal
from rekognito.ports import Runtime
from rekognito.security.audit import audit_scope, audited_change
from rekognito.security.principals import PrincipalRegistry, write_private

ADMIN = "admin"
ADMIN_GRANTS = ("*:*",)
PROFILE = "rekognito"
BOOTSTRAP_PRINCIPAL = Principal(name="system:bootstrap")


def credentials_path(services: Runtime) -> Path:
    return (services.settings.data_dir / "credentials").resolve()


def ensure_admin_principal(services: Runtime, say: Callable[[str], None]) -> None:
    """Create ``admin`` (full rights) and an AWS credentials file if no principal exists yet."""
    registry = PrincipalRegistry(services.settings.data_dir)
    path = credentials_path(services)
    region = services.settings.region
    usage = f"export AWS_SHARED_CREDENTIALS_FILE={path} AWS_PROFILE={PROFILE} AWS_DEFAULT_REGION={region}"
    existing = registry.principals()
    if existing:
        say(f"rekognito: {len(existing)} principal(s) in {registry.path} (rekognito principal list)")
        if path.is_file():
            say(f"  admin credentials: {usage}")
        return
    with (
        audit_scope(BOOTSTRAP_PRINCIPAL, operation="BootstrapAdmin"),
        audited_change(services.audit, "create_principal", name=ADMIN, grants=list(ADMIN_GRANTS)),
    ):
        principal, secret = registry.create(ADMIN, list(ADMIN_GRANTS))
    text = f"[{PROFILE}]\naws_access_key_id = {principal.access_key_id}\naws_secret_access_key = {secret}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text.encode("utf-8"))
    os.chmod(path, 0o600)
    say(f"rekognito: created principal '{ADMIN}' (full rights); its credentials are in {path} (0600).")
    say("  use them with the AWS CLI or any SDK:")
    say(f"  {usage}")
    say("  more principals: rekognito principal create NAME --allow 'search:COLLECTION' ...")
