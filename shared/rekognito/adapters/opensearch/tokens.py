"""Idempotency tokens (ClientRequestToken) in the OpenSearch store's metadata index."""

from __future__ import annotations

import functools
from typing import Any

from opensearchpy.exceptions import NotFoundError

from rekognito.adapters.opensearch.collections import CollectionsPart
from rekognito.adapters.opensearch.mapping import IndexLayout
from rekognito.adapters.opensearch.transport import Conflict, Transport, internal, log
from rekognito.api._generated import InternalServerError, ThrottlingException

TOKEN_PURGE_INTERVAL_S = 3600.0


class TokensPart:
    def __init__(self, transport: Transport, layout: IndexLayout, collections: CollectionsPart) -> None:
        self.transport = transport
        self.layout = layout
        self.collections = collections
        self._purged_at = float("-inf")

    def _read(self, operation: str, token: str) -> tuple[dict[str, Any], int, int] | None:
        client, meta_index = self.transport.client, self.layout.meta_index
        doc_id = self.layout.token_doc_id(operation, token)

        def request() -> tuple[dict[str, Any], int, int] | None:
            try:
                response: dict[str, Any] = client.get(index=meta_index, id=doc_id)
            except NotFoundError as exc:
                if exc.error == "index_not_found_exception":
                    raise
                return None
            return response["_source"], int(response["_seq_no"]), int(response["_primary_term"])

        return self.transport.call("get_request_token", request)

    def get(self, operation: str, token: str, now: float) -> tuple[str, str] | None:
        self.collections.ensure_meta()
        found = self._read(operation, token)
        if found is None or float(found[0]["expires_at"]) <= now:
            return None
        return str(found[0]["fingerprint"]), str(found[0]["response"])

    def put(
        self, operation: str, token: str, fingerprint: str, response_json: str, expires_at: float, now: float
    ) -> tuple[str, str] | None:
        """Store the record unless a live one exists; concurrent writers are ordered by OpenSearch.

        A new token is written with ``op_type=create``; an expired one is replaced only if it
        was not changed since it was read (``if_seq_no``/``if_primary_term``). Whoever loses
        either race reads and returns the winner's record.
        """
        self.collections.ensure_meta()
        self._purge(now)
        client, meta_index = self.transport.client, self.layout.meta_index
        doc_id = self.layout.token_doc_id(operation, token)
        doc = {
            "kind": "token",
            "operation": operation,
            "fingerprint": fingerprint,
            "response": response_json,
            "expires_at": expires_at,
        }
        for _ in range(3):
            found = self._read(operation, token)
            if found is not None and float(found[0]["expires_at"]) > now:
                return str(found[0]["fingerprint"]), str(found[0]["response"])
            kwargs: dict[str, Any] = {"op_type": "create"}
            if found is not None:
                kwargs = {"if_seq_no": found[1], "if_primary_term": found[2]}
            try:
                self.transport.call(
                    "put_request_token",
                    functools.partial(
                        client.index, index=meta_index, id=doc_id, body=doc, refresh="true", **kwargs
                    ),
                )
            except Conflict:
                continue
            return None
        log.error("request token kept changing", extra={"operation": operation})
        raise internal()

    def _purge(self, now: float) -> None:
        """Delete expired tokens, at most once an hour per store instance; failures only log."""
        if now - self._purged_at < TOKEN_PURGE_INTERVAL_S:
            return
        self._purged_at = now
        client, meta_index = self.transport.client, self.layout.meta_index
        query = {"bool": {"filter": [{"term": {"kind": "token"}}, {"range": {"expires_at": {"lte": now}}}]}}
        try:
            self.transport.call(
                "purge_request_tokens",
                lambda: client.delete_by_query(
                    index=meta_index, body={"query": query}, conflicts="proceed", wait_for_completion=False
                ),
            )
        except (InternalServerError, ThrottlingException):
            log.warning("purging expired request tokens failed", extra={"index": meta_index})
