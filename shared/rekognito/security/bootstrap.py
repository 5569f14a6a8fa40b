"""First-start set-up of credentials for the local endpoint (placeholder until issue 6 lands)."""

from __future__ import annotations

from collections.abc import Callable

from rekognito.services import Services


def ensure_admin_principal(services: Services, say: Callable[[str], None]) -> None:
    return None
