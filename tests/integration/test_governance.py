"""Issue 6: audit trail, threshold guardrails, review marker, consent tags, retention, tags."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rekognito.cli import main
from rekognito.inference.pipeline import FaceAnalyzer
from rekognito.security.retention import purge_expired, start_retention_thread
from tests.integration.test_auth import GRANTS, Secured, error_of, secured_endpoint


@pytest.fixture
def secured(
    tmp_path: Path, face_analyzer: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Secured]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("REKOGNITO_DATA_DIR", str(data_dir))  # the CLI sets it; restore afterwards
    with secured_endpoint(data_dir, face_analyzer, GRANTS) as running:
        yield running


def cli(secured: Secured, *args: str) -> int:
    return main([*args, "--data-dir", str(secured.services.settings.data_dir)])


@pytest.fixture
def family(secured: Secured, photo: Any) -> dict[str, str]:
    """Collection ``family`` with Obama and Biden indexed by the admin."""
    admin = secured.client("admin")
    admin.create_collection(CollectionId="family")
    ids = {}
    for name in ("obama", "biden"):
        record = admin.index_faces(CollectionId="family", Image={"Bytes": photo(f"{name}.jpg")})[
            "FaceRecords"
        ][0]
        ids[name] = record["Face"]["FaceId"]
    return ids


def test_audit_verify_finds_edited_deleted_and_swapped_lines(
    secured: Secured, family: dict[str, str], photo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a trail written by real requests
    secured.client("alice").search_faces_by_image(CollectionId="family", Image={"Bytes": photo("obama2.jpg")})
    secured.client("alice").list_faces(CollectionId="family")
    path = secured.services.settings.data_dir / "audit" / "audit.jsonl"
    original = path.read_text().splitlines()
    assert len(original) >= 5
    assert cli(secured, "audit", "verify") == 0
    assert "intact" in capsys.readouterr().out

    edited = [original[0], original[1].replace('"admin"', '"alice"'), *original[2:]]
    deleted = [original[0], original[1], *original[3:]]
    swapped = [original[0], original[2], original[1], *original[3:]]
    for lines, broken in ((edited, 2), (deleted, 3), (swapped, 2)):
        path.write_text("\n".join(lines) + "\n")
        # Then verify exits non-zero and names the first broken line
        assert cli(secured, "audit", "verify") == 1
        assert f"BROKEN at line {broken}" in capsys.readouterr().err
    path.write_text("\n".join(original) + "\n")
    assert cli(secured, "audit", "verify") == 0


def test_audit_export_filters_and_holds_no_biometrics(
    secured: Secured, family: dict[str, str], photo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secured.client("admin").create_collection(CollectionId="work")
    capsys.readouterr()
    assert cli(secured, "audit", "export", "--collection", "family", "--since", "1d") == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    requests = [e for e in exported if "phase" not in e]
    assert [e["operation"] for e in requests] == ["CreateCollection", "IndexFaces", "IndexFaces"]
    assert {e["collection"] for e in exported} == {"family"}
    assert requests[1]["face_ids"] == [family["obama"]]
    assert requests[1]["images"] == {"Image": "bytes"}
    # Each change was preceded by its write-ahead entry, same request, same ids
    assert [(e["phase"], e["change"]) for e in exported if "phase" in e] == [
        ("intent", "create_collection"),
        ("intent", "put_faces"),
        ("intent", "put_faces"),
    ]
    intent = exported[exported.index(requests[1]) - 1]
    assert (intent["request_id"], intent["face_ids"]) == (requests[1]["request_id"], [family["obama"]])
    raw = (secured.services.settings.data_dir / "audit" / "audit.jsonl").read_text()
    assert "Embedding" not in raw and "BoundingBox" not in raw and "Landmarks" not in raw
    assert cli(secured, "audit", "export", "--since", "2999-01-01") == 0
    assert capsys.readouterr().out == ""


def test_searches_below_the_collection_minimum_are_refused_or_clamped(
    secured: Secured, family: dict[str, str], photo: Any
) -> None:
    alice = secured.client("alice")
    image = {"Bytes": photo("obama2.jpg")}
    # Given a minimum threshold of 90 in refuse mode
    assert cli(secured, "collection", "configure", "family", "--min-threshold", "90") == 0
    # Then a search at 50 is refused, and one at the default (80) too
    code, message, _ = error_of(
        lambda: alice.search_faces_by_image(CollectionId="family", Image=image, FaceMatchThreshold=50)
    )
    assert code == "InvalidParameterException"
    assert "minimum of 90" in message
    assert error_of(lambda: alice.search_faces(CollectionId="family", FaceId=family["obama"]))[0] == (
        "InvalidParameterException"
    )
    # And the refusal is audited
    refused = [e for e in secured.audit() if e["operation"] == "SearchFacesByImage"]
    assert refused[0]["error"] == "InvalidParameterException"
    assert refused[0]["thresholds"] == {"FaceMatchThreshold": 50.0}

    # When the mode is clamp, the search runs at 90: Obama only, nobody under 90
    assert cli(secured, "collection", "configure", "family", "--threshold-mode", "clamp") == 0
    found = alice.search_faces_by_image(CollectionId="family", Image=image, FaceMatchThreshold=0, MaxFaces=10)
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [family["obama"]]
    assert all(m["Similarity"] >= 90 for m in found["FaceMatches"])

    # When the minimum is removed, threshold 0 returns everyone
    assert cli(secured, "collection", "configure", "family", "--min-threshold", "0") == 0
    everyone = alice.search_faces_by_image(
        CollectionId="family", Image=image, FaceMatchThreshold=0, MaxFaces=10
    )
    assert len(everyone["FaceMatches"]) == 2


def test_matches_below_the_review_level_carry_a_marker_boto3_ignores(
    secured: Secured, family: dict[str, str], photo: Any
) -> None:
    assert cli(secured, "collection", "configure", "family", "--review-below", "99.99") == 0
    alice = secured.client("alice")
    raw_bodies: list[bytes] = []
    alice.meta.events.register(
        "after-call.rekognition.SearchFacesByImage",
        lambda http_response, **_: raw_bodies.append(http_response.content),
    )
    found = alice.search_faces_by_image(CollectionId="family", Image={"Bytes": photo("obama2.jpg")})
    # boto3 parses the response; the extra key is on the wire
    assert found["FaceMatches"][0]["Face"]["FaceId"] == family["obama"]
    assert "ReviewRequired" not in found["FaceMatches"][0]
    wire = json.loads(raw_bodies[0])
    assert wire["FaceMatches"][0]["ReviewRequired"] is True
    assert wire["FaceMatches"][0]["Similarity"] < 99.99


def test_consent_tag_is_required_before_indexing(secured: Secured, photo: Any) -> None:
    bob = secured.client("bob")
    bob.create_collection(CollectionId="family")
    arn = bob.describe_collection(CollectionId="family")["CollectionARN"]
    assert cli(secured, "collection", "configure", "family", "--require-consent-tag", "consent") == 0
    code, message, _ = error_of(
        lambda: bob.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})
    )
    assert code == "InvalidParameterException"
    assert "consent" in message
    bob.tag_resource(ResourceArn=arn, Tags={"consent": "signed-2024-05-01"})
    assert (
        len(bob.index_faces(CollectionId="family", Image={"Bytes": photo("obama.jpg")})["FaceRecords"]) == 1
    )
    assert cli(secured, "collection", "configure", "family", "--no-consent-tag") == 0
    bob.untag_resource(ResourceArn=arn, TagKeys=["consent"])
    assert (
        len(bob.index_faces(CollectionId="family", Image={"Bytes": photo("biden.jpg")})["FaceRecords"]) == 1
    )


def test_tags_on_collection_arns(secured: Secured) -> None:
    admin = secured.client("admin")
    arn = admin.create_collection(CollectionId="family", Tags={"team": "a"})["CollectionArn"]
    admin.tag_resource(ResourceArn=arn, Tags={"owner": "jo", "team": "b"})
    assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "jo", "team": "b"}
    admin.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"])
    assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "jo"}
    too_many = {f"k{i}": "v" for i in range(50)}
    assert (
        error_of(lambda: admin.tag_resource(ResourceArn=arn, Tags=too_many))[0]
        == "ServiceQuotaExceededException"
    )
    unknown = arn.replace("collection/family", "collection/nope")
    assert (
        error_of(lambda: admin.list_tags_for_resource(ResourceArn=unknown))[0] == "ResourceNotFoundException"
    )
    other_account = arn.replace(":000000000000:", ":111111111111:")
    assert error_of(lambda: admin.list_tags_for_resource(ResourceArn=other_account))[0] == (
        "ResourceNotFoundException"
    )
    # alice may read tags of family (search) but not change them (administer)
    alice = secured.client("alice")
    assert alice.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "jo"}
    assert (
        error_of(lambda: alice.tag_resource(ResourceArn=arn, Tags={"x": "y"}))[0] == "AccessDeniedException"
    )


def test_retention_purges_old_faces_and_audits_it(
    secured: Secured, family: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    admin = secured.client("admin")
    admin.create_collection(CollectionId="work")
    assert cli(secured, "collection", "configure", "family", "--retention-days", "30") == 0
    capsys.readouterr()
    # Today nothing is old enough
    assert cli(secured, "retention", "run") == 0
    assert json.loads(capsys.readouterr().out) == {"family": 0}
    # In 31 days both faces of family are purged; work has no retention
    purged = purge_expired(secured.services, now=time.time() + 31 * 86400)
    assert sorted(purged["family"]) == sorted(family.values())
    assert "work" not in purged
    assert admin.list_faces(CollectionId="family")["Faces"] == []
    entry = [e for e in secured.audit() if e["operation"] == "RetentionPurge"][-1]
    assert entry["principal"] == "system:retention"
    assert sorted(entry["face_ids"]) == sorted(family.values())
    assert cli(secured, "audit", "verify") == 0


def test_collection_show_lists_everything_configurable(
    secured: Secured, family: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(
            secured,
            "collection",
            "configure",
            "family",
            "--min-threshold",
            "85",
            "--threshold-mode",
            "clamp",
            "--review-below",
            "95",
            "--retention-days",
            "365",
            "--require-consent-tag",
            "consent",
        )
        == 0
    )
    capsys.readouterr()
    assert cli(secured, "collection", "show", "family") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["Policy"] == {
        "min_match_threshold": 85.0,
        "threshold_mode": "clamp",
        "review_below": 95.0,
        "retention_days": 365.0,
        "require_consent_tag": "consent",
    }
    assert shown["FaceCount"] == 2
    assert shown["UserCount"] == 0
    assert shown["FaceModelVersion"]
    assert shown["Created"].endswith("Z")
    assert cli(secured, "collection", "show", "nope") == 1
    configured = [e for e in secured.audit() if e["operation"] == "ConfigureCollection"]
    assert configured[0]["principal"].startswith("cli:")


def test_the_serve_retention_thread_purges_and_stops(secured: Secured, family: dict[str, str]) -> None:
    store = secured.services.store
    store.update_collection(replace(store.get_collection("family"), policy={"retention_days": 1e-9}))
    time.sleep(0.01)
    thread = start_retention_thread(secured.services, interval=0.05)
    deadline = time.time() + 10
    while store.count_faces("family") and time.time() < deadline:
        time.sleep(0.05)
    thread.stop()
    assert store.count_faces("family") == 0
    assert not thread.alive
