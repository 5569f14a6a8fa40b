"""Issue 3: ``rekognito import`` of a folder, with real photos, a corrupt file and a no-face image."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rekognito.cli import main
from rekognito.ingest.folder import import_folder
from rekognito.operations.collections import create_collection
from rekognito.request import RequestContext
from rekognito.services import Services, set_services
from tests.support.test_data import image_path


@pytest.fixture
def album(tmp_path: Path) -> Path:
    root = tmp_path / "album"
    (root / "people" / "Zoë").mkdir(parents=True)
    shutil.copy(image_path("obama.jpg"), root / "people" / "obama.jpg")
    shutil.copy(image_path("biden.jpg"), root / "people" / "Zoë" / "Biden 1.JPG")
    shutil.copy(image_path("group6.jpg"), root / "group.jpeg")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.new("RGB", (320, 240), (90, 140, 200)).save(root / "sky.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def cli(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the CLI on ``services``; undo what it sets process-wide (environment, logging)."""
    monkeypatch.setenv("REKOGNITO_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    set_services(services)
    yield
    set_services(None)
    root.handlers[:], root.level = handlers, level


def create(services: Services, collection_id: str) -> None:
    create_collection(RequestContext(services, "test", "CreateCollection"), {"CollectionId": collection_id})


def test_import_then_rerun_skips_unchanged(services: Services, album: Path) -> None:
    create(services, "album")
    # When the folder is imported
    first = import_folder(services, "album", album, external_id_from="path", workers=2)
    # Then the three photos with faces are indexed, the blank one has none, the corrupt one failed
    assert (first.seen, first.indexed_images, first.no_face, first.failed) == (5, 3, 1, 1)
    assert first.failures[0]["path"] == "broken.png"
    assert first.failures[0]["reason"].startswith("InvalidImageFormatException")
    faces = services.store.list_faces("album")
    assert first.faces_indexed == len(faces) > 3
    assert {"people:obama", "people:Zoe:Biden_1"} <= {face.external_image_id for face in faces}
    assert f"file://{album.resolve()}/people/obama.jpg" in {face.source for face in faces}
    # When it is imported again: nothing is analysed again, the faces are the same
    second = import_folder(services, "album", album)
    assert (second.skipped_unchanged, second.indexed_images, second.faces_indexed) == (3, 0, 0)
    assert sorted(f.face_id for f in services.store.list_faces("album")) == sorted(f.face_id for f in faces)
    # When a photo's content changes, its faces are replaced
    shutil.copy(image_path("obama2.jpg"), album / "group.jpeg")
    third = import_folder(services, "album", album)
    assert (third.indexed_images, third.skipped_unchanged, third.faces_indexed) == (1, 2, 1)
    assert third.faces_replaced == first.faces_indexed - 2
    assert len(services.store.list_faces("album")) == 3


def test_cli_creates_the_collection_and_writes_a_report(
    services: Services, album: Path, tmp_path: Path, capsys: Any
) -> None:
    set_services(services)
    try:
        code = main(
            ["import", str(album), "--collection", "cli", "--create", "--report", str(tmp_path / "r.json")]
        )
    finally:
        set_services(None)
    assert code == 1  # one image failed
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (report["indexed_images"], report["no_face"], report["failed"]) == (3, 1, 1)
    assert {face.external_image_id for face in services.store.list_faces("cli")} >= {"obama", "Biden_1"}
    assert "indexed: 3 images" in capsys.readouterr().err


def test_cli_refuses_a_missing_collection_without_create(cli: None, album: Path) -> None:
    assert main(["import", str(album), "--collection", "nope"]) == 2
