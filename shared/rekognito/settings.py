"""Settings, read from the environment in one place.

Every knob is an environment variable prefixed ``REKOGNITO_``; the CLI turns its flags
into the same variables, and the SAM template sets them on the Lambda functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

StoreBackend = Literal["embedded", "opensearch"]
OpenSearchAuth = Literal["none", "basic", "es", "aoss"]
OpenSearchEngine = Literal["faiss", "lucene"]
EmbeddedIndex = Literal["exact", "hnsw"]
AuthMode = Literal["sigv4", "iam", "none"]


class SettingsError(ValueError):
    """A setting has a value we cannot use."""


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r}: expected an integer") from exc
    if value < minimum:
        raise SettingsError(f"{name}={value}: must be >= {minimum}")
    return value


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    return _int(env, name, 0) if env.get(name, "").strip() else None


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    store_backend: StoreBackend = "embedded"
    opensearch_url: str | None = None
    opensearch_auth: OpenSearchAuth = "none"
    opensearch_username: str | None = None
    opensearch_password: str | None = None
    # lucene: the engine the tests run (docs/benchmarks.md, "OpenSearch"); faiss needs the
    # k-NN plugin's native libraries, which Maven Central's plugin zip lacks.
    opensearch_engine: OpenSearchEngine = "lucene"
    opensearch_index_prefix: str = "rekognito"
    # HNSW candidates per search (k) and graph quality of new indexes: docs/benchmarks.md,
    # "k against misses and latency".
    opensearch_ef_search: int = 768
    opensearch_ef_construction: int = 128
    opensearch_rescore: bool = False
    # Replicas of new indexes (None: the cluster's default, 1 on OpenSearch).
    opensearch_replicas: int | None = None
    # The embedded store's search: "exact" (int8 scan + float32 rescoring, exact results) or
    # "hnsw" (an approximate graph for very large collections; needs the ann extra).
    embedded_index: EmbeddedIndex = "exact"
    face_model: str = "edgeface-s"
    # Emotions (and Gender, for which no model is shipped) are inferences about people that
    # other vendors have retired; they are computed only when this is on (docs/faces.md).
    face_sensitive_attributes: bool = False
    s3_endpoint_url: str | None = None
    auth_mode: AuthMode = "none"
    max_inflight_requests: int = 16
    max_image_pixels: int = 80_000_000
    inference_threads: int = 1
    # Drop-folder pollers of `rekognito serve` (images analysed in parallel): one per core.
    ingest_workers: int = field(default_factory=available_cores)
    log_level: str = "INFO"
    # The drop-folder bucket: the one `rekognito serve` creates in its local S3 (the SAM
    # template sets the deployed bucket's name).
    ingest_bucket: str = "rekognito-drop"
    # CloudWatch namespace of the ingest function's EMF metrics.
    metrics_namespace: str = "Rekognito"
    # Governance (docs/governance.md): the audit trail goes to this DynamoDB table when set,
    # else to <data_dir>/audit; REKOGNITO_AUDIT=off disables it.
    audit_table: str | None = None
    audit_enabled: bool = True
    # The audit key (head HMAC, S3 object pseudonyms; docs/governance.md). Default:
    # <data_dir>/security/audit.key for the file sink, none for the DynamoDB sink.
    audit_key_file: Path | None = None
    # JSON {"<IAM ARN or prefix*>": ["action:collections", ...]} for auth_mode=iam.
    iam_grants: str | None = None
    # auth_mode=sigv4 with one key pair instead of principals.json (security/key_pair.py).
    api_access_key_id: str | None = None
    api_secret_access_key: str | None = field(default=None, repr=False)
    # Stored video (docs/video.md): one frame analysed every video_sample_ms; segments of
    # video_segment_seconds are leased (video_lease_seconds, renewed while working) and
    # tried video_max_attempts times; at most video_max_jobs jobs in progress; results kept
    # video_retention_days; objects up to video_max_bytes and video_max_duration_s.
    video_sample_ms: int = 500
    # Analysed frames wider than this are scaled down first (0: full resolution).
    video_max_width: int = 0
    video_segment_seconds: int = 120
    video_workers: int = 1
    video_lease_seconds: int = 60
    video_max_attempts: int = 3
    video_max_jobs: int = 20
    video_retention_days: float = 7.0
    video_max_bytes: int = 10 * 1024**3
    video_max_duration_s: int = 6 * 3600
    # Deployed (SAM): jobs in this DynamoDB table, results in this bucket, work announced on
    # this SQS queue; messages of its dead-letter queue fail their job. Unset: the local
    # SQLite job store under data_dir, polled by the workers of `rekognito serve`.
    video_jobs_table: str | None = None
    video_results_bucket: str | None = None
    video_queue_url: str | None = None
    video_dead_letter_queue_arn: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            data_dir=Path(env.get("REKOGNITO_DATA_DIR", "data")),
            region=env.get("REKOGNITO_REGION") or env.get("AWS_REGION") or "us-east-1",
            account_id=env.get("REKOGNITO_ACCOUNT_ID", "000000000000"),
            store_backend=_choice(env, "REKOGNITO_STORE_BACKEND", "embedded", ("embedded", "opensearch")),  # type: ignore[arg-type]
            opensearch_url=_optional(env, "REKOGNITO_OPENSEARCH_URL"),
            opensearch_auth=_choice(
                env, "REKOGNITO_OPENSEARCH_AUTH", "none", ("none", "basic", "es", "aoss")
            ),  # type: ignore[arg-type]
            opensearch_username=_optional(env, "REKOGNITO_OPENSEARCH_USERNAME"),
            opensearch_password=_optional(env, "REKOGNITO_OPENSEARCH_PASSWORD"),
            opensearch_engine=_choice(env, "REKOGNITO_OPENSEARCH_ENGINE", "lucene", ("faiss", "lucene")),  # type: ignore[arg-type]
            opensearch_index_prefix=env.get("REKOGNITO_OPENSEARCH_INDEX_PREFIX", "rekognito"),
            opensearch_ef_search=_int(env, "REKOGNITO_OPENSEARCH_EF_SEARCH", 768, 1),
            opensearch_ef_construction=_int(env, "REKOGNITO_OPENSEARCH_EF_CONSTRUCTION", 128, 2),
            opensearch_rescore=_choice(env, "REKOGNITO_OPENSEARCH_RESCORE", "false", ("true", "false"))
            == "true",
            opensearch_replicas=_optional_int(env, "REKOGNITO_OPENSEARCH_REPLICAS"),
            embedded_index=_choice(env, "REKOGNITO_EMBEDDED_INDEX", "exact", ("exact", "hnsw")),  # type: ignore[arg-type]
            face_model=_choice(env, "REKOGNITO_FACE_MODEL", "edgeface-s", ("edgeface-s", "sface")),
            face_sensitive_attributes=_choice(
                env, "REKOGNITO_FACE_SENSITIVE_ATTRIBUTES", "off", ("on", "off")
            )
            == "on",
            s3_endpoint_url=_optional(env, "REKOGNITO_S3_ENDPOINT_URL"),
            auth_mode=_choice(env, "REKOGNITO_AUTH_MODE", "none", ("sigv4", "iam", "none")),  # type: ignore[arg-type]
            max_inflight_requests=_int(env, "REKOGNITO_MAX_INFLIGHT_REQUESTS", 16, 1),
            max_image_pixels=_int(env, "REKOGNITO_MAX_IMAGE_PIXELS", 80_000_000, 1),
            inference_threads=_int(env, "REKOGNITO_INFERENCE_THREADS", 1, 1),
            ingest_workers=_int(env, "REKOGNITO_INGEST_WORKERS", available_cores(), 1),
            log_level=env.get("REKOGNITO_LOG_LEVEL", "INFO").upper(),
            ingest_bucket=env.get("REKOGNITO_INGEST_BUCKET") or "rekognito-drop",
            metrics_namespace=env.get("REKOGNITO_METRICS_NAMESPACE")
            or env.get("POWERTOOLS_METRICS_NAMESPACE")
            or "Rekognito",
            audit_table=_optional(env, "REKOGNITO_AUDIT_TABLE"),
            audit_enabled=_choice(env, "REKOGNITO_AUDIT", "on", ("on", "off")) == "on",
            audit_key_file=Path(key_file)
            if (key_file := _optional(env, "REKOGNITO_AUDIT_KEY_FILE"))
            else None,
            iam_grants=_optional(env, "REKOGNITO_IAM_GRANTS"),
            video_sample_ms=_int(env, "REKOGNITO_VIDEO_SAMPLE_MS", 500, 40),
            video_max_width=_int(env, "REKOGNITO_VIDEO_MAX_WIDTH", 0, 0),
            video_segment_seconds=_int(env, "REKOGNITO_VIDEO_SEGMENT_SECONDS", 120, 1),
            video_workers=_int(env, "REKOGNITO_VIDEO_WORKERS", 1, 0),
            video_lease_seconds=_int(env, "REKOGNITO_VIDEO_LEASE_SECONDS", 60, 2),
            video_max_attempts=_int(env, "REKOGNITO_VIDEO_MAX_ATTEMPTS", 3, 1),
            video_max_jobs=_int(env, "REKOGNITO_VIDEO_MAX_JOBS", 20, 1),
            video_retention_days=float(_int(env, "REKOGNITO_VIDEO_RETENTION_DAYS", 7, 1)),
            video_max_bytes=_int(env, "REKOGNITO_VIDEO_MAX_BYTES", 10 * 1024**3, 1),
            video_max_duration_s=_int(env, "REKOGNITO_VIDEO_MAX_DURATION_S", 6 * 3600, 1),
            video_jobs_table=_optional(env, "REKOGNITO_VIDEO_JOBS_TABLE"),
            video_results_bucket=_optional(env, "REKOGNITO_VIDEO_RESULTS_BUCKET"),
            video_queue_url=_optional(env, "REKOGNITO_VIDEO_QUEUE_URL"),
            video_dead_letter_queue_arn=_optional(env, "REKOGNITO_VIDEO_DEAD_LETTER_QUEUE_ARN"),
            api_access_key_id=_optional(env, "REKOGNITO_API_ACCESS_KEY_ID"),
            api_secret_access_key=_optional(env, "REKOGNITO_API_SECRET_ACCESS_KEY"),
            extra={
                k: v
                for k, v in env.items()
                if k.startswith("REKOGNITO_") and k != "REKOGNITO_API_SECRET_ACCESS_KEY"
            },
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
