"""The video job store of the SAM app: DynamoDB for jobs and leases, S3 for results.

The same contract as :class:`rekognito.video.jobs.JobStore` (leases, attempts, one job per
client token, the in-flight limit, retention), shared by the API function (Start/Get) and
the worker function, which gets its work from SQS (:mod:`rekognito.video.queue`) instead of
polling: :meth:`DynamoJobStore.lease` takes the piece a message names.

One table (``REKOGNITO_VIDEO_JOBS_TABLE``, keys ``pk``/``sk``):

* a job: ``pk`` = job id, ``sk`` = ``job``; ``expires_at`` is the table's TTL attribute;
* its segments: ``pk`` = job id, ``sk`` = ``seg#00001``, ...;
* a client token: ``pk`` = ``token#<owner>#<api>#<token>``, ``sk`` = ``token``;
* the in-flight counter: ``pk`` = ``counter``, ``sk`` = ``inflight``;
* a GSI ``collection`` on ``collection_id`` finds a collection's face search jobs.

Results and per-segment results are gzipped JSON in the results bucket
(``REKOGNITO_VIDEO_RESULTS_BUCKET``): ``results/<job id>.json.gz`` (expired by the bucket's
lifecycle rule as well) and ``segments/<job id>/<index>.json.gz`` (deleted at the end).
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from typing import Any

from rekognito.video.jobs import (
    FAILED,
    IN_FLIGHT,
    PLANNING,
    RUNNING,
    SUCCEEDED,
    Job,
    JobExists,
    Segment,
    Work,
)

COUNTER = {"pk": "counter", "sk": "inflight"}


def _num(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _dec(value: float) -> Decimal:
    return Decimal(str(value))


def _job(item: dict[str, Any]) -> Job:
    return Job(
        job_id=str(item["pk"]),
        api=str(item["api"]),
        owner=str(item["owner"]),
        collection_id=item.get("collection_id"),
        params=json.loads(item["params"]),
        fingerprint=str(item["fingerprint"]),
        client_token=item.get("client_token"),
        state=str(item["state"]),
        status_message=item.get("status_message"),
        video=json.loads(item["video_meta"]) if item.get("video_meta") else None,
        created_at=float(item["created_at"]),
        finished_at=float(item["finished_at"]) if item.get("finished_at") is not None else None,
        expires_at=float(item["expires_at"]) if item.get("expires_at") is not None else None,
        attempts=int(item.get("tries", 0)),
    )


def _pack(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))


class DynamoJobStore:
    # The worker publishes a job's completion as soon as it ends (no polling loop here).
    deferred_notifications = False

    def __init__(
        self,
        table: Any,
        s3: Any,
        bucket: str,
        *,
        max_attempts: int = 3,
        retention_s: float = 7 * 86400.0,
    ) -> None:
        self._table = table
        self._s3 = s3
        self.bucket = bucket
        self.max_attempts = max_attempts
        self.retention_s = retention_s

    @classmethod
    def from_settings(cls, settings: Any) -> DynamoJobStore:
        import boto3

        table = boto3.resource("dynamodb", region_name=settings.region).Table(settings.video_jobs_table)
        s3 = boto3.client("s3", region_name=settings.region)
        return cls(
            table,
            s3,
            settings.video_results_bucket,
            max_attempts=settings.video_max_attempts,
            retention_s=settings.video_retention_days * 86400.0,
        )

    def close(self) -> None:
        return None

    # -- helpers --------------------------------------------------------------------------

    def _conditional(self, **kwargs: Any) -> dict[str, Any] | None:
        """An update that returns None when its condition fails."""
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = self._table.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return response

    def _put_blob(self, key: str, value: Any) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=_pack(value), ContentType="application/json")

    def _get_blob(self, key: str) -> Any:
        from botocore.exceptions import ClientError

        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(gzip.decompress(body))

    def _release_slot(self) -> None:
        self._table.update_item(
            Key=COUNTER, UpdateExpression="ADD slots :minus", ExpressionAttributeValues={":minus": -1}
        )

    def _segment_keys(self, job_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        found = self._table.query(
            KeyConditionExpression=Key("pk").eq(job_id) & Key("sk").begins_with("seg#"),
            ProjectionExpression="pk, sk",
        )
        return [{"pk": i["pk"], "sk": i["sk"]} for i in found.get("Items", [])]

    def _drop_segments(self, job_id: str) -> None:
        with self._table.batch_writer() as batch:
            for key in self._segment_keys(job_id):
                batch.delete_item(Key=key)
        listed = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=f"segments/{job_id}/")
        for obj in listed.get("Contents", []):
            self._s3.delete_object(Bucket=self.bucket, Key=obj["Key"])

    # -- the API side ---------------------------------------------------------------------

    def create(
        self,
        *,
        job_id: str,
        api: str,
        owner: str,
        collection_id: str | None,
        params: dict[str, Any],
        fingerprint: str,
        client_token: str | None,
        max_in_flight: int,
        now: float,
    ) -> Job | None:
        from botocore.exceptions import ClientError

        token_key = {"pk": f"token#{owner}#{api}#{client_token}", "sk": "token"}
        if client_token is not None:
            existing = self._table.get_item(Key=token_key, ConsistentRead=True).get("Item")
            if existing is not None:
                job = self.get(str(existing["job_id"]))
                if job is not None:
                    raise JobExists(job)
        taken = self._conditional(
            Key=COUNTER,
            UpdateExpression="ADD slots :one",
            ConditionExpression="attribute_not_exists(slots) OR slots < :max",
            ExpressionAttributeValues={":one": 1, ":max": max_in_flight},
        )
        if taken is None:
            return None
        if client_token is not None:
            try:
                self._table.put_item(
                    Item={**token_key, "job_id": job_id, "expires_at": _dec(now + self.retention_s + 86400)},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                self._release_slot()
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                winner = self._table.get_item(Key=token_key, ConsistentRead=True)["Item"]
                job = self.get(str(winner["job_id"]))
                assert job is not None
                raise JobExists(job) from exc
        item: dict[str, Any] = {
            "pk": job_id,
            "sk": "job",
            "api": api,
            "owner": owner,
            "params": json.dumps(params, separators=(",", ":")),
            "fingerprint": fingerprint,
            "state": PLANNING,
            "created_at": _dec(now),
            "tries": 0,
        }
        if collection_id is not None:
            item["collection_id"] = collection_id
        if client_token is not None:
            item["client_token"] = client_token
        self._table.put_item(Item=item)
        return _job(item)

    def get(self, job_id: str, now: float | None = None) -> Job | None:
        item = self._table.get_item(Key={"pk": job_id, "sk": "job"}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        job = _job({k: _num(v) for k, v in item.items()})
        # DynamoDB's TTL deletes within days, not at once: an expired job is gone already.
        if now is not None and job.expires_at is not None and job.expires_at <= now:
            return None
        return job

    def result(self, job_id: str) -> Any:
        return self._get_blob(f"results/{job_id}.json.gz")

    def delete_for_collection(self, collection_id: str, api: str) -> list[str]:
        from boto3.dynamodb.conditions import Key

        found = self._table.query(
            IndexName="collection", KeyConditionExpression=Key("collection_id").eq(collection_id)
        )
        deleted = []
        for item in found.get("Items", []):
            if item.get("api") != api:
                continue
            job_id = str(item["pk"])
            self._drop_segments(job_id)
            self._table.delete_item(Key={"pk": job_id, "sk": "job"})
            self._s3.delete_object(Bucket=self.bucket, Key=f"results/{job_id}.json.gz")
            if item.get("state") in IN_FLIGHT:
                self._release_slot()
            deleted.append(job_id)
        return deleted

    def purge_expired(self, now: float) -> list[str]:
        """Nothing to do: the table's TTL and the bucket's lifecycle rule expire results."""
        return []

    # -- the worker side ------------------------------------------------------------------

    def lease(
        self, job_id: str, kind: str, index: int | None, worker: str, now: float, lease_s: float
    ) -> Work | None:
        """Take the piece an SQS message names; None if it is done, taken, or its job gone."""
        job = self.get(job_id)
        if job is None:
            return None
        values = {":w": worker, ":until": _dec(now + lease_s), ":now": _dec(now), ":one": 1}
        free = "(attribute_not_exists(lease_until) OR lease_until < :now)"
        if kind == "segment":
            assert index is not None
            updated = self._conditional(
                Key={"pk": job_id, "sk": f"seg#{index:05d}"},
                UpdateExpression="SET lease_owner = :w, lease_until = :until ADD tries :one",
                ConditionExpression=f"attribute_exists(pk) AND finished = :zero AND {free}",
                ExpressionAttributeValues={**values, ":zero": 0},
                ReturnValues="ALL_NEW",
            )
            if updated is None or job.state != RUNNING:
                return None
            seg = {k: _num(v) for k, v in updated["Attributes"].items()}
            if int(seg["tries"]) > self.max_attempts:
                self.fail(
                    job_id,
                    f"The video worker stopped {self.max_attempts} times while processing this job",
                    now,
                )
                return None
            return Work(
                "segment",
                job,
                Segment(job_id, index, int(seg["start_ms"]), int(seg["end_ms"]), int(seg["tries"])),
            )
        state = PLANNING if kind == "plan" else RUNNING
        updated = self._conditional(
            Key={"pk": job_id, "sk": "job"},
            UpdateExpression="SET lease_owner = :w, lease_until = :until ADD tries :one",
            ConditionExpression=f"#s = :state AND {free}"
            + (" AND seg_done = seg_total" if kind == "finish" else ""),
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={**values, ":state": state},
            ReturnValues="ALL_NEW",
        )
        if updated is None:
            return None
        leased = _job({k: _num(v) for k, v in updated["Attributes"].items()})
        if leased.attempts > self.max_attempts:
            self.fail(
                job_id, f"The video worker stopped {self.max_attempts} times while processing this job", now
            )
            return None
        return Work(kind, leased)

    def claim(self, worker: str, now: float, lease_s: float) -> Work | None:
        """Deployed, work comes as SQS messages (:meth:`lease`), never by polling."""
        raise NotImplementedError("the DynamoDB job store is driven by SQS messages (lease)")

    def renew(self, work: Work, worker: str, until: float) -> bool:
        key = (
            {"pk": work.job.job_id, "sk": f"seg#{work.segment.index:05d}"}
            if work.segment is not None
            else {"pk": work.job.job_id, "sk": "job"}
        )
        return (
            self._conditional(
                Key=key,
                UpdateExpression="SET lease_until = :until",
                ConditionExpression="lease_owner = :w",
                ExpressionAttributeValues={":until": _dec(until), ":w": worker},
            )
            is not None
        )

    def planned(
        self, work: Work, worker: str, video: dict[str, Any], bounds: list[tuple[int, int]], now: float
    ) -> bool:
        with self._table.batch_writer() as batch:
            for index, (start, end) in enumerate(bounds):
                batch.put_item(
                    Item={
                        "pk": work.job.job_id,
                        "sk": f"seg#{index:05d}",
                        "start_ms": start,
                        "end_ms": end,
                        "finished": 0,
                        "tries": 0,
                    }
                )
        return (
            self._conditional(
                Key={"pk": work.job.job_id, "sk": "job"},
                UpdateExpression="SET #s = :running, video_meta = :video, seg_total = :total, "
                "seg_done = :zero, tries = :zero REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :w AND #s = :planning",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":running": RUNNING,
                    ":planning": PLANNING,
                    ":video": json.dumps(video),
                    ":total": len(bounds),
                    ":zero": 0,
                    ":w": worker,
                },
            )
            is not None
        )

    def segment_done(self, work: Work, worker: str, result: Any) -> bool:
        assert work.segment is not None
        job_id, index = work.job.job_id, work.segment.index
        self._put_blob(f"segments/{job_id}/{index:05d}.json.gz", result)
        marked = self._conditional(
            Key={"pk": job_id, "sk": f"seg#{index:05d}"},
            UpdateExpression="SET finished = :one REMOVE lease_owner, lease_until",
            ConditionExpression="lease_owner = :w AND finished = :zero",
            ExpressionAttributeValues={":one": 1, ":zero": 0, ":w": worker},
        )
        if marked is None:
            return False
        self._table.update_item(
            Key={"pk": job_id, "sk": "job"},
            UpdateExpression="ADD seg_done :one",
            ExpressionAttributeValues={":one": 1},
        )
        return True

    def all_segments_done(self, job_id: str) -> bool:
        item = self._table.get_item(Key={"pk": job_id, "sk": "job"}, ConsistentRead=True).get("Item") or {}
        return item.get("seg_total") is not None and item.get("seg_done") == item.get("seg_total")

    def segment_results(self, job_id: str) -> list[Any]:
        keys = sorted(k["sk"] for k in self._segment_keys(job_id))
        return [self._get_blob(f"segments/{job_id}/{sk[4:]}.json.gz") for sk in keys]

    def succeed(self, work: Work, worker: str, result: Any, now: float) -> bool:
        job_id = work.job.job_id
        self._put_blob(f"results/{job_id}.json.gz", result)
        return self._end(
            job_id,
            now,
            set_state="#s = :ok",
            condition="lease_owner = :w AND #s = :running",
            values={":ok": SUCCEEDED, ":w": worker, ":running": RUNNING},
        )

    def fail(self, job_id: str, message: str, now: float) -> bool:
        return self._end(
            job_id,
            now,
            set_state="#s = :failed, status_message = :m",
            condition="#s IN (:planning, :running)",
            values={":failed": FAILED, ":m": message[:1000], ":planning": PLANNING, ":running": RUNNING},
        )

    def _end(
        self, job_id: str, now: float, *, set_state: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """Move a job to its final state under ``condition``; free its slot and its segments."""
        ended = self._conditional(
            Key={"pk": job_id, "sk": "job"},
            UpdateExpression=f"SET {set_state}, finished_at = :now, expires_at = :exp "
            "REMOVE lease_owner, lease_until",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={**values, ":now": _dec(now), ":exp": _dec(now + self.retention_s)},
        )
        if ended is None:
            return False
        self._release_slot()
        self._drop_segments(job_id)
        return True

    def unnotified(self) -> list[Job]:
        """Deployed, the worker publishes right after a job ends (see worker.finish_hooks)."""
        return []

    def mark_notified(self, job_id: str) -> None:
        return None
