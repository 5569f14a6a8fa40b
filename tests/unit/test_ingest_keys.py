"""The drop-folder convention: keys -> collection and ExternalImageId; S3 notification parsing."""

from __future__ import annotations

import json
import re

import pytest

from rekognito.ingest.events import MalformedMessage, parse_message_body
from rekognito.ingest.keys import (
    KeyOutsideConvention,
    decode_event_key,
    external_image_id_for,
    is_folder_marker,
    parse_drop_key,
)
from tests.support.events import load_event

FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "Fullwidth")  # U+FF21... in full-width forms
EXTERNAL_ID = re.compile(r"[a-zA-Z0-9_.\-:]+")


@pytest.mark.parametrize(
    ("key", "collection", "external_id"),
    [
        ("family/alice.jpg", "family", "alice"),
        ("family/alice.JPEG", "family", "alice"),
        ("family/Alice.Png", "family", "Alice"),
        ("Team_1.a-b/bob.jpg", "Team_1.a-b", "bob"),
        ("family/alice/beach 2024.jpg", "family", "alice:beach_2024"),
        ("family/a/b/c.jpg", "family", "a:b:c"),
        ("family/Renée Dupont.jpg", "family", "Renee_Dupont"),
        ("family/x.y.jpg", "family", "x.y"),
    ],
)
def test_keys_inside_the_convention(key: str, collection: str, external_id: str) -> None:
    drop = parse_drop_key(key)
    assert drop.collection_id == collection
    assert drop.external_image_id == external_id
    assert drop.key == key


@pytest.mark.parametrize(
    "key",
    [
        "alice.jpg",  # no collection folder
        "family/",  # folder marker
        "family/notes.txt",
        "family/alice.gif",
        "family/.jpg",  # no name
        "fam ily/alice.jpg",  # invalid CollectionId
        "famille-é/alice.jpg",
        "/alice.jpg",
        "family//alice.jpg",
        "family/../alice.jpg",
        "x" * 256 + "/alice.jpg",
    ],
)
def test_keys_outside_the_convention(key: str) -> None:
    with pytest.raises(KeyOutsideConvention):
        parse_drop_key(key)


def test_folder_markers_are_recognised() -> None:
    assert is_folder_marker("family/")
    assert not is_folder_marker("family/alice.jpg")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("family/Ren%C3%A9e+Dupont.jpg", "family/Renée Dupont.jpg"),
        ("family%2Falice+1.jpg", "family/alice 1.jpg"),  # moto encodes the slash
        ("family/a%2Bb.jpg", "family/a+b.jpg"),
        ("family/%E5%BC%A0%E4%BC%9F.jpg", "family/张伟.jpg"),
    ],
)
def test_event_keys_are_url_decoded(raw: str, key: str) -> None:
    assert decode_event_key(raw) == key


def test_external_ids_match_rekognition_pattern_and_are_deterministic() -> None:
    names = ["Zoë Ünal", FULLWIDTH, "a/b", "tab\there", "emoji 😀", "张伟", "x" * 400, "ß"]
    for name in names:
        mapped = external_image_id_for(name)
        assert EXTERNAL_ID.fullmatch(mapped), (name, mapped)
        assert len(mapped) <= 255
        assert external_image_id_for(name) == mapped
    assert external_image_id_for(FULLWIDTH) == "Fullwidth"  # NFKD compatibility mapping


def test_nfc_and_nfd_spellings_map_to_the_same_id() -> None:
    assert external_image_id_for("Ren\u00e9e") == external_image_id_for("Rene\u0301e") == "Renee"


def test_names_without_ascii_letters_keep_distinct_ids() -> None:
    first, second = external_image_id_for("张伟"), external_image_id_for("李娜")
    assert first != second
    assert EXTERNAL_ID.fullmatch(first)


def test_long_names_are_truncated_with_a_digest() -> None:
    first, second = external_image_id_for("a" * 300 + "1"), external_image_id_for("a" * 300 + "2")
    assert len(first) == len(second) == 255
    assert first != second


def test_put_event_is_parsed() -> None:
    record = load_event("ingest/s3_put")["Records"][0]
    (change,) = parse_message_body(record["body"])
    assert change.kind == "created"
    assert change.bucket == "rekognito-dev-ingest-123456789012-us-east-1"
    assert change.key == "family/alice.jpg"
    assert change.version_id == "UsXw0b3sWyTD_5kXtlnEmZvGcG3.HC2o"
    assert change.revision == change.version_id
    assert change.source == "s3://rekognito-dev-ingest-123456789012-us-east-1/family/alice.jpg"


def test_unicode_key_event_is_decoded() -> None:
    record = load_event("ingest/s3_put_unicode_key")["Records"][0]
    (change,) = parse_message_body(record["body"])
    assert change.key == "family/Renée Dupont.jpg"
    assert parse_drop_key(change.key).external_image_id == "Renee_Dupont"


def test_delete_event_is_a_removal_without_etag() -> None:
    record = load_event("ingest/s3_delete")["Records"][0]
    (change,) = parse_message_body(record["body"])
    assert change.kind == "removed"
    assert change.etag is None


def test_s3_test_event_has_no_changes() -> None:
    record = load_event("ingest/s3_test_event")["Records"][0]
    assert parse_message_body(record["body"]) == []


def test_other_event_types_are_ignored() -> None:
    body = {"Records": [{"eventName": "ObjectRestore:Completed", "s3": {}}]}
    assert parse_message_body(json.dumps(body)) == []


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"foo": 1}', '{"Records": [{"eventName": "ObjectCreated:Put"}]}']
)
def test_malformed_bodies_are_rejected(body: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_message_body(body)
