"""The HTTP side of the OpenSearch store: the client, error mapping, bulk, paging, refresh.

Connections
    One ``OpenSearch`` client per store, i.e. one urllib3 pool of keep-alive connections
    per node (``pool_maxsize`` connections each, enough for the bulk threads and concurrent
    requests). ``REKOGNITO_OPENSEARCH_URL`` may list several nodes separated by commas:
    the client spreads requests over them, marks a node that refuses connections as dead
    for a while and retries the request on another one. Request bodies are not compressed:
    a search is a few KB and gzip cost more CPU than it saved on the wire here.

Errors
    Unknown collections raise ``ResourceNotFoundException``; HTTP 429 from OpenSearch is
    retried with exponential backoff and then raised as ``ThrottlingException``; anything
    else the cluster or the connection does wrong becomes ``InternalServerError`` with a
    generic message (details are logged, never sent to the client). The client's transport
    retries timeouts, connection errors and 502/503/504 itself, on the next node.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConflictError,
    NotFoundError,
    OpenSearchException,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)

from rekognito.api._generated import (
    InternalServerError,
    ResourceNotFoundException,
    ThrottlingException,
)
from rekognito.settings import Settings

log = logging.getLogger("rekognito.adapters.opensearch")

T = TypeVar("T")

PAGE_SIZE = 1000
BULK_CHUNK_DOCS = 500
BULK_THREADS = 2
POOL_MAXSIZE = 8
THROTTLE_RETRIES = 4
THROTTLE_BASE_DELAY_S = 0.2
TRANSPORT_RETRY_STATUSES = (502, 503, 504)


def not_found(collection_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The collection id: {collection_id} does not exist")


def internal() -> InternalServerError:
    return InternalServerError("Internal server error: the face store is unavailable")


class Conflict(Exception):
    """A write with ``op_type=create`` (or ``if_seq_no``) found another version there."""


def hosts_from_url(url: str) -> list[str]:
    """``http://a:9200,http://b:9200`` -> both; a single URL -> itself."""
    hosts = [part.strip() for part in url.split(",") if part.strip()]
    if not hosts:
        raise ValueError("opensearch_url is empty")
    return hosts


def build_client(settings: Settings, *, timeout_s: float = 10.0, max_retries: int = 3) -> OpenSearch:
    """The client for ``settings``: auth, TLS, keep-alive pool and transport retries."""
    if not settings.opensearch_url:
        raise ValueError("opensearch_url is not set")
    hosts = hosts_from_url(settings.opensearch_url)
    auth: Any = None
    if settings.opensearch_auth == "basic":
        if not settings.opensearch_username or settings.opensearch_password is None:
            raise ValueError("basic auth needs opensearch_username and opensearch_password")
        auth = (settings.opensearch_username, settings.opensearch_password)
    elif settings.opensearch_auth in ("es", "aoss"):
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ValueError("SigV4 signing for OpenSearch needs AWS credentials")
        auth = AWSV4SignerAuth(credentials, settings.region, settings.opensearch_auth)
    return OpenSearch(
        hosts=hosts,
        http_auth=auth,
        use_ssl=hosts[0].startswith("https://"),
        verify_certs=True,
        timeout=timeout_s,
        max_retries=max_retries,
        retry_on_timeout=True,
        retry_on_status=TRANSPORT_RETRY_STATUSES,
        http_compress=False,
        pool_maxsize=POOL_MAXSIZE,
    )


class Transport:
    """Requests with the store's error mapping, plus the bulk/paging/refresh helpers."""

    def __init__(self, client: OpenSearch, *, bulk_threads: int = BULK_THREADS) -> None:
        self.client = client
        self.bulk_threads = max(1, bulk_threads)

    def call(self, operation: str, request: Callable[[], T], collection_id: str | None = None) -> T:
        """Run one request, retrying 429 with backoff and mapping errors to API errors."""
        for attempt in range(THROTTLE_RETRIES + 1):
            try:
                return request()
            except ConflictError as exc:
                raise Conflict() from exc
            except NotFoundError as exc:
                if collection_id is not None and exc.error == "index_not_found_exception":
                    raise not_found(collection_id) from None
                log.error("opensearch not found", extra={"operation": operation, "error": str(exc.error)})
                raise internal() from None
            except TransportError as exc:
                if exc.status_code == 429:
                    if attempt < THROTTLE_RETRIES:
                        time.sleep(THROTTLE_BASE_DELAY_S * 2**attempt * (1 + random.random()))
                        continue
                    log.warning("opensearch throttled", extra={"operation": operation})
                    raise ThrottlingException("Rate exceeded") from None
                level = logging.WARNING if isinstance(exc, OpenSearchConnectionError) else logging.ERROR
                log.log(
                    level,
                    "opensearch request failed",
                    extra={
                        "operation": operation,
                        "status": str(exc.status_code),
                        "error": str(exc.error)[:200],
                    },
                )
                raise internal() from None
            except OpenSearchException as exc:
                log.error(
                    "opensearch client error", extra={"operation": operation, "error": type(exc).__name__}
                )
                raise internal() from None
        raise internal()

    def refresh(self, index: str, collection_id: str | None = None) -> None:
        self.call("refresh", lambda: self.client.indices.refresh(index=index), collection_id)

    def get_source(self, operation: str, index: str, doc_id: str) -> dict[str, Any] | None:
        """The document's ``_source``, or None; a missing index raises (``InternalServerError``)."""

        def request() -> dict[str, Any] | None:
            try:
                response: dict[str, Any] = self.client.get(index=index, id=doc_id)
            except NotFoundError as exc:
                if exc.error == "index_not_found_exception":
                    raise
                return None
            source: dict[str, Any] = response["_source"]
            return source

        return self.call(operation, request)

    def bulk(
        self,
        operation: str,
        actions: list[dict[str, Any]],
        collection_id: str,
        *,
        refresh: bool = False,
    ) -> list[dict[str, Any]]:
        """Send bulk actions in chunks, in parallel; return the per-item results in order.

        ``actions`` alternate action lines and (for index/update) documents; a chunk never
        splits a pair. With ``refresh`` the affected shards are refreshed once, after the
        last chunk (the request's ``refresh=true``), so the documents are searchable when
        this returns.
        """
        chunks = list(_chunks(actions, BULK_CHUNK_DOCS))
        if not chunks:
            return []

        def send(chunk: list[dict[str, Any]], last: bool) -> list[dict[str, Any]]:
            kwargs: dict[str, Any] = {"refresh": "true"} if refresh and last else {}
            response = self.call(
                operation, functools.partial(self.client.bulk, body=chunk, **kwargs), collection_id
            )
            return [next(iter(item.values())) for item in response["items"]]

        items: list[dict[str, Any]] = []
        if len(chunks) == 1 or self.bulk_threads == 1:
            for number, chunk in enumerate(chunks):
                items.extend(send(chunk, number == len(chunks) - 1))
            return items
        # Chunks in parallel; with ``refresh`` the last one (which refreshes) goes after them.
        # Without it the last chunk goes in parallel too: holding it back left one of two
        # streams idle for a third of every call (bulk loads ran at 2/3 of the engine's speed).
        parallel = chunks[:-1] if refresh else chunks
        with ThreadPoolExecutor(max_workers=self.bulk_threads, thread_name_prefix="rekognito-bulk") as pool:
            for result in pool.map(lambda chunk: send(chunk, False), parallel):
                items.extend(result)
        if refresh:
            items.extend(send(chunks[-1], True))
        return items

    def scan(
        self,
        index: str,
        query: dict[str, Any],
        collection_id: str | None,
        *,
        sort_field: str = "face_id",
        after: str | None = None,
        limit: int | None = None,
        source: bool | dict[str, Any] = True,
    ) -> Iterator[dict[str, Any]]:
        """Hits sorted by ``sort_field``, paged with ``search_after``."""
        returned = 0
        cursor = after
        while limit is None or returned < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - returned)
            body: dict[str, Any] = {
                "size": size,
                "query": query,
                "sort": [{sort_field: "asc"}],
                "_source": source,
            }
            if cursor is not None:
                body["search_after"] = [cursor]
            response = self.call(
                "scan", functools.partial(self.client.search, index=index, body=body), collection_id
            )
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            yield from hits
            returned += len(hits)
            if len(hits) < size:
                return
            cursor = str(hits[-1]["sort"][0])

    def close(self) -> None:
        self.client.close()


def _chunks(actions: list[dict[str, Any]], docs_per_chunk: int) -> Iterator[list[dict[str, Any]]]:
    """Split bulk lines into chunks of about ``docs_per_chunk`` actions, pairs kept together."""
    chunk: list[dict[str, Any]] = []
    count = 0
    position = 0
    while position < len(actions):
        action = actions[position]
        kind = next(iter(action))
        width = 1 if kind == "delete" else 2
        chunk.extend(actions[position : position + width])
        position += width
        count += 1
        if count >= docs_per_chunk:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk
