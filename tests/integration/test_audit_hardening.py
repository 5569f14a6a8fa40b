"""Issue 15: the attacks on the audit trail, the policy and retention, replayed over real HTTP.

Rows of the issue's table: 1 (unwritable audit, retried IndexFaces), 4 (non-finite
retention), 7 and 8 (truncated or deleted trail), 9 (S3 keys in the trail), 10 (retention
only enforced by the purge), 11 (the first admin not audited). Row 3 (file modes) is in
``test_data_at_rest.py``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from rekognito.cli import main
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.operations.collections import create_collection
from rekognito.request import RequestContext
from rekognito.security.bootstrap import ensure_admin_principal
from rekognito.security.principals import PrincipalRegistry
from rekognito.services import Services
from rekognito.settings import Settings
from tests.integration.test_auth import GRANTS, Secured, error_of, secured_endpoint
from tests.integration.test_ingest_events import BUCKET, Drop


@pytest.fixture
def secured(
    tmp_path: Path, face_analyzer: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Secured]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("REKOGNITO_DATA_DIR", str(data_dir))  # the CLI sets it; restore afterwards
    with secured_endpoint(data_dir, face_analyzer, GRANTS) as running:
        yield running


def cli(data_dir: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(data_dir)])


def data_dir_of(secured: Secured) -> Path:
    return secured.services.settings.data_dir


def retrying_client(secured: Secured, name: str = "admin") -> Any:
    """A client with the SDK's standard retries (3 attempts), as applications use it."""
    key, secret = secured.keys[name]
    return boto3.client(
        "rekognition",
        endpoint_url=secured.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=120),
    )


@contextmanager
def audit_unwritable(data_dir: Path) -> Iterator[None]:
    """Make the audit file impossible to open for writing, for root too.

    Tests run as root here and in CI, and root ignores file modes: the file is replaced by a
    directory of the same name (opening it for writing fails with EISDIR); as another user
    the directory is made read-only as well.
    """
    audit_dir = data_dir / "audit"
    path = audit_dir / "audit.jsonl"
    saved = audit_dir / "audit.jsonl.saved"
    path.rename(saved)
    path.mkdir()
    if os.geteuid() != 0:
        os.chmod(audit_dir, 0o500)
    try:
        yield
    finally:
        os.chmod(audit_dir, 0o700)
        path.rmdir()
        saved.rename(path)


def entries(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data_dir / "audit" / "audit.jsonl").read_text().splitlines()]


# -- row 1 --------------------------------------------------------------------------------


def test_index_faces_changes_nothing_when_its_audit_entry_cannot_be_written(
    secured: Secured, photo: Any
) -> None:
    admin = retrying_client(secured)
    admin.create_collection(CollectionId="family")
    before = len(entries(data_dir_of(secured)))
    with audit_unwritable(data_dir_of(secured)):
        # When IndexFaces runs with the audit trail down, the SDK retries (3 attempts)
        with pytest.raises(ClientError) as caught:
            admin.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})
        # Then no face was stored, and every attempt was refused with a Rekognition error
        assert secured.services.store.count_faces("family") == 0
        response = caught.value.response
        assert response["Error"]["Code"] == "InternalServerError"
        assert "nothing was changed" in response["Error"]["Message"]
        assert response["ResponseMetadata"]["RetryAttempts"] == 2
        # And reads are refused too: no result leaves without its audit entry
        assert error_of(lambda: admin.list_faces(CollectionId="family"))[0] == "InternalServerError"
    assert len(entries(data_dir_of(secured))) == before
    # Once the trail is back, the same call works and is audited
    admin.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})
    assert secured.services.store.count_faces("family") == 1
    assert cli(data_dir_of(secured), "audit", "verify") == 0


def test_a_retried_index_faces_stores_its_faces_once(secured: Secured, photo: Any) -> None:
    admin = retrying_client(secured)
    admin.create_collection(CollectionId="family")
    sent: list[tuple[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((headers["amz-sdk-invocation-id"], headers["amz-sdk-request"]))

    def retry_once_after_success(attempts: int, **_: Any) -> int | None:
        # As if the first response were lost on the way back: botocore retries the call
        return 0 if attempts == 1 else None

    admin.meta.events.register("before-send.rekognition.IndexFaces", record)
    admin.meta.events.register_first("needs-retry.rekognition.IndexFaces", retry_once_after_success)
    response = admin.index_faces(CollectionId="family", Image={"Bytes": photo("group6.jpg")})

    # Two attempts of one call: same invocation id, attempt=1 then attempt=2
    assert len(sent) == 2 and sent[0][0] == sent[1][0]
    assert [re.search(r"attempt=\d+", header).group(0) for _, header in sent] == ["attempt=1", "attempt=2"]  # type: ignore[union-attr]
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    stored = sorted(face.face_id for face in secured.services.store.list_faces("family"))
    returned = sorted(record["Face"]["FaceId"] for record in response["FaceRecords"])
    assert len(stored) == len(returned) > 1
    assert stored == returned
    # The trail shows one change and two answers, the second a replay of the first
    trail = entries(data_dir_of(secured))
    puts = [e for e in trail if e.get("change") == "put_faces"]
    answers = [e for e in trail if e["operation"] == "IndexFaces" and "phase" not in e]
    assert len(puts) == 1
    assert [a.get("details", {}).get("replay_of") for a in answers] == [None, answers[0]["request_id"]]
    assert sorted(answers[1]["face_ids"]) == returned


# -- row 4 --------------------------------------------------------------------------------


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_policy_values_are_refused_and_a_stored_one_never_crashes_the_cli(
    secured: Secured, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = data_dir_of(secured)
    secured.client("admin").create_collection(CollectionId="family")
    for value in ("nan", "inf", "-inf", "-1", "1e9"):
        with pytest.raises(SystemExit) as caught:
            cli(data_dir, "collection", "configure", "family", "--retention-days", value)
        assert caught.value.code == 2
    for option in ("--min-threshold", "--review-below"):
        with pytest.raises(SystemExit):
            cli(data_dir, "collection", "configure", "family", option, "nan")
    assert "finite" in capsys.readouterr().err
    assert secured.services.store.get_collection("family").policy == {}

    # Given a non-finite value stored by other means (an older version, a hand edit)
    raw = secured.services.store.inner  # type: ignore[attr-defined]
    raw.update_collection(replace(raw.get_collection("family"), policy={"retention_days": float("nan")}))
    # Then show prints strict JSON naming the problem, and the purge runs
    assert cli(data_dir, "collection", "show", "family") == 0
    shown = _strict_json(capsys.readouterr().out)
    assert shown["Policy"] == {"retention_days": "nan"}
    assert "retention_days must be a finite number" in shown["PolicyProblems"][0]
    assert cli(data_dir, "retention", "run") == 0
    # And replacing it works and is audited before the change, with the old and new value
    assert cli(data_dir, "collection", "configure", "family", "--retention-days", "30") == 0
    change = [e for e in entries(data_dir) if e.get("change") == "update_collection"][-1]
    assert change["phase"] == "intent"
    assert change["operation"] == "ConfigureCollection"
    assert change["principal"].startswith("cli:")
    assert (change["policy_old"], change["policy_new"]) == (
        {"retention_days": "nan"},
        {"retention_days": 30.0},
    )
    assert cli(data_dir, "audit", "verify") == 0


# -- rows 7 and 8 -------------------------------------------------------------------------


def test_a_truncated_or_deleted_trail_is_found(
    secured: Secured, photo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = data_dir_of(secured)
    admin = secured.client("admin")
    admin.create_collection(CollectionId="family")
    admin.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})
    path, head = data_dir / "audit" / "audit.jsonl", data_dir / "audit" / "audit.head"
    original_lines, original_head = path.read_text(), head.read_text()
    # Row 7: delete the last line and rewrite audit.head to match
    lines = original_lines.splitlines()
    last = json.loads(lines[-2])
    path.write_text("\n".join(lines[:-1]) + "\n")
    head.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    capsys.readouterr()
    assert cli(data_dir, "audit", "verify") == 1
    assert "not authenticated" in capsys.readouterr().err
    path.write_text(original_lines)
    head.write_text(original_head)

    # A checkpoint taken now, kept elsewhere
    assert cli(data_dir, "audit", "checkpoint") == 0
    checkpoint = capsys.readouterr().out.strip()
    assert cli(data_dir, "audit", "verify", "--expect", checkpoint) == 0

    # Row 8: delete audit.jsonl and audit.head
    path.unlink()
    head.unlink()
    assert cli(data_dir, "audit", "verify") == 1
    assert "head is missing" in capsys.readouterr().err
    # Deleting the audit key as well leaves only the checkpoint to tell
    (data_dir / "security" / "audit.key").unlink()
    assert cli(data_dir, "audit", "verify") == 0
    assert cli(data_dir, "audit", "verify", "--expect", checkpoint) == 1
    assert "entries were removed" in capsys.readouterr().err


# -- row 9 --------------------------------------------------------------------------------


@pytest.fixture
def drop(tmp_path: Path, face_analyzer: FaceAnalyzer) -> Iterator[Drop]:
    settings = Settings(data_dir=tmp_path / "data", auth_mode="none", ingest_bucket=BUCKET)
    services = Services(settings, face_analyzer=face_analyzer)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        create_collection(RequestContext(services, "test", "CreateCollection"), {"CollectionId": "family"})
        yield Drop(services, s3)
    services.close()


def test_an_erased_persons_object_key_is_not_left_in_the_trail(
    drop: Drop, photo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "family/jane-doe.jpg"
    data_dir = drop.services.settings.data_dir
    # Given a photo indexed from the drop folder, then erased (s3 rm)
    put = drop.put(key, photo("obama.jpg"))
    assert drop.handle(drop.event("ingest/s3_put", put, key=key)) == []
    assert len(drop.faces()) == 1
    drop.s3.delete_object(Bucket=BUCKET, Key=key)
    assert drop.handle(drop.event("ingest/s3_delete", key=key)) == []
    assert drop.faces() == []
    # Then the trail does not hold the name
    raw = (data_dir / "audit" / "audit.jsonl").read_text()
    assert "jane" not in raw
    # But whoever holds the audit key can still check which entries used the object
    capsys.readouterr()
    assert cli(data_dir, "audit", "lookup", f"s3://{BUCKET}/{key}") == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["operation"] for e in found] == ["IngestIndexFaces", "IngestDeleteFaces"]
    assert cli(data_dir, "audit", "lookup", f"s3://{BUCKET}/family/john-doe.jpg") == 0
    assert capsys.readouterr().out == ""


# -- row 10 -------------------------------------------------------------------------------

RETENTION_DAYS = 4e-5  # 3.5 seconds


def test_faces_past_retention_disappear_from_every_read_before_the_purge(
    secured: Secured, photo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = data_dir_of(secured)
    admin = secured.client("admin")
    admin.create_collection(CollectionId="family")
    obama = admin.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})["FaceRecords"][0]
    indexed_at = time.time()
    admin.create_user(CollectionId="family", UserId="barack")
    face_id = obama["Face"]["FaceId"]
    admin.associate_faces(CollectionId="family", UserId="barack", FaceIds=[face_id])
    assert cli(data_dir, "collection", "configure", "family", "--retention-days", str(RETENTION_DAYS)) == 0
    query = {"Bytes": photo("obama2.jpg")}
    assert [f["FaceId"] for f in admin.list_faces(CollectionId="family")["Faces"]] == [face_id]

    time.sleep(max(0.0, indexed_at + RETENTION_DAYS * 86400 + 0.5 - time.time()))
    # The hourly purge has not run: the face is still stored, but no read returns it
    assert secured.services.store.find_faces_created_before("family", time.time()) == [face_id]
    assert admin.list_faces(CollectionId="family")["Faces"] == []
    assert admin.list_faces(CollectionId="family", UserId="barack")["Faces"] == []
    assert admin.search_faces_by_image(CollectionId="family", Image=query)["FaceMatches"] == []
    assert error_of(lambda: admin.search_faces(CollectionId="family", FaceId=face_id))[0] == (
        "InvalidParameterException"
    )
    assert admin.search_users_by_image(CollectionId="family", Image=query)["UserMatches"] == []
    assert admin.describe_collection(CollectionId="family")["FaceCount"] == 0
    assert admin.list_users(CollectionId="family")["Users"] == [{"UserId": "barack", "UserStatus": "CREATED"}]
    capsys.readouterr()
    assert cli(data_dir, "retention", "run") == 0
    assert json.loads(capsys.readouterr().out) == {"family": 1}


# -- row 11 and principal changes ---------------------------------------------------------


def test_the_first_admin_and_every_principal_change_are_audited_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    services = Services(Settings(data_dir=data_dir, auth_mode="sigv4"))
    try:
        ensure_admin_principal(services, lambda text: None)
    finally:
        services.close()
    (bootstrap,) = entries(data_dir)
    assert (bootstrap["phase"], bootstrap["change"], bootstrap["principal"]) == (
        "intent",
        "create_principal",
        "system:bootstrap",
    )
    assert (bootstrap["name"], bootstrap["grants"]) == ("admin", ["*:*"])

    assert cli(data_dir, "principal", "create", "kiosk", "--allow", "search:family") == 0
    assert cli(data_dir, "principal", "grant", "kiosk", "detect") == 0
    assert cli(data_dir, "principal", "revoke", "kiosk", "search:family") == 0
    assert cli(data_dir, "principal", "delete", "kiosk") == 0
    changes = [(e["change"], e["operation"]) for e in entries(data_dir)[1:]]
    assert changes == [
        ("create_principal", "PrincipalCreate"),
        ("change_grants", "PrincipalGrant"),
        ("change_grants", "PrincipalRevoke"),
        ("delete_principal", "PrincipalDelete"),
    ]
    grant = entries(data_dir)[2]
    assert (grant["grants_old"], grant["added"]) == (["search:family"], ["detect:*"])

    # With the trail down, a principal change is refused and nothing changes
    with audit_unwritable(data_dir):
        capsys.readouterr()
        assert cli(data_dir, "principal", "create", "eve", "--allow", "*:*") == 1
        assert "audit trail cannot be written" in capsys.readouterr().err
    assert PrincipalRegistry(data_dir).get("eve") is None
    assert cli(data_dir, "audit", "verify") == 0
