"""Small deploy-facing checks: the face model a server lacks, the --aws target, the deploy script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rekognito.api._generated import InvalidParameterException
from rekognito.inference import models
from rekognito.local_aws import LOCALSTACK_DEFAULT_URL, AwsTarget
from rekognito.operations.collections import create_collection
from rekognito.request import RequestContext
from rekognito.services import Services
from rekognito.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_create_collection_refuses_a_face_model_the_server_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Lambda layer built without SFace: its file is missing
    real = models.model_path

    def without_sface(name: str) -> Path:
        if name.startswith("sface"):
            raise models.ModelUnavailableError(f"model {name}: not in this layer")
        return real(name)

    monkeypatch.setattr(models, "model_path", without_sface)
    services = Services(Settings(data_dir=tmp_path, face_model="sface"))
    try:
        with pytest.raises(InvalidParameterException, match="sface"):
            create_collection(RequestContext(services, "r1", "CreateCollection"), {"CollectionId": "family"})
        assert services.store.list_collections() == []
        ok = Services(Settings(data_dir=tmp_path / "ok"))
        created = create_collection(RequestContext(ok, "r2", "CreateCollection"), {"CollectionId": "family"})
        assert created["FaceModelVersion"] == "edgeface-s"
        ok.close()
    finally:
        services.close()


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("embedded", AwsTarget("embedded")),
        ("localstack", AwsTarget("localstack", LOCALSTACK_DEFAULT_URL)),
        ("localstack=http://127.0.0.1:4567/", AwsTarget("localstack", "http://127.0.0.1:4567")),
    ],
)
def test_aws_targets(value: str, target: AwsTarget) -> None:
    assert AwsTarget.parse(value) == target


@pytest.mark.parametrize("value", ["moto", "localstack=127.0.0.1:4566", "embedded=x", ""])
def test_unknown_aws_targets_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="--aws"):
        AwsTarget.parse(value)


def test_localstack_deploy_says_what_to_do_without_docker() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "localstack-deploy")],
        env={"PATH": "/usr/bin:/bin", "LOCALSTACK_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "rekognito serve --aws localstack" in done.stderr or "no LocalStack answers" in done.stderr
