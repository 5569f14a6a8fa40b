"""Scheduled retention purge: deletes faces past their collection's retention_days."""

from typing import Any

from rekognito.security.retention import purge_expired
from rekognito.services import get_services


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {collection: len(ids) for collection, ids in purge_expired(get_services()).items()}
