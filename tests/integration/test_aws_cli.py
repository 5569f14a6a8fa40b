"""The AWS CLI, unmodified, against the local endpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.test_data import image_path


def aws_cli() -> list[str]:
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if found is None:
        pytest.fail("the AWS CLI is not installed (pip install awscli, part of the dev extras)")
    return [found]


def run_cli(endpoint: Any, *args: str) -> dict[str, Any]:
    env = dict(
        os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    result = subprocess.run(
        [*aws_cli(), "rekognition", *args, "--endpoint-url", endpoint.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_create_index_and_search_with_the_aws_cli(endpoint: Any) -> None:
    created = run_cli(endpoint, "create-collection", "--collection-id", "cli")
    assert created["StatusCode"] == 200
    indexed = run_cli(
        endpoint,
        "index-faces",
        "--collection-id",
        "cli",
        "--image-bytes",
        f"fileb://{image_path('obama.jpg')}",
        "--external-image-id",
        "obama",
    )
    assert len(indexed["FaceRecords"]) == 1
    found = run_cli(
        endpoint,
        "search-faces-by-image",
        "--collection-id",
        "cli",
        "--image-bytes",
        f"fileb://{image_path('obama2.jpg')}",
    )
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    assert found["FaceMatches"][0]["Similarity"] >= 90
