"""Powertools at the Lambda edge: the four handlers run as Lambda runs them, with active tracing.

A child process imports ``functions/*/app.py`` with Lambda's environment (``LAMBDA_TASK_ROOT``,
a sampled ``_X_AMZN_TRACE_ID``) and the X-Ray daemon address pointing at a UDP socket of
this test, so the subsegments the X-Ray SDK emits are received here, as the daemon would.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_edge import TRACE_ROOT
from tests.support.test_data import image_path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class EdgeRun:
    logs: list[dict[str, Any]]
    emf: list[dict[str, Any]]
    answers: dict[str, Any]
    segments: list[dict[str, Any]]
    stdout: str


def _receive(sock: socket.socket) -> list[dict[str, Any]]:
    segments = []
    sock.setblocking(False)
    while True:
        try:
            datagram = sock.recv(65536)
        except BlockingIOError:
            return segments
        header, _, document = datagram.decode("utf-8").partition("\n")
        assert json.loads(header)["format"] == "json"
        segments.append(json.loads(document))


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeRun]:
    data_dir = tmp_path_factory.mktemp("lambda") / "data"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        address = f"127.0.0.1:{daemon.getsockname()[1]}"
        env = {
            **{
                k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "REKOGNITO_", "AWS_"))
            },
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
            "AWS_LAMBDA_FUNCTION_NAME": "rekognito-dev-api",
            "AWS_REGION": "us-east-1",
            "AWS_XRAY_DAEMON_ADDRESS": address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
            "POWERTOOLS_SERVICE_NAME": "rekognito",
            "POWERTOOLS_METRICS_NAMESPACE": "Rekognito",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            # Would make Powertools log every event, images included: the handlers refuse.
            "POWERTOOLS_LOGGER_LOG_EVENT": "true",
            "REKOGNITO_DATA_DIR": str(data_dir),
            "REKOGNITO_STORE_BACKEND": "embedded",
            "REKOGNITO_AUTH_MODE": "none",
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.support.lambda_edge", str(image_path("obama.jpg"))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        segments = _receive(daemon)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    yield EdgeRun(
        logs=[line for line in lines if "level" in line],
        emf=[line for line in lines if "_aws" in line],
        answers=lines[-1]["answers"],
        segments=segments,
        stdout=done.stdout,
    )


def test_the_handlers_answer(edge_run: EdgeRun) -> None:
    answers = edge_run.answers
    assert answers["CreateCollection"] == answers["IndexFaces"] == answers["SearchFacesByImage"] == 200
    assert answers["DescribeCollection"] == 400
    # BatchProcessor: the test event is acknowledged, the malformed message comes back
    assert answers["ingest"] == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert answers["retention"] == {}
    # The video worker's batch too
    assert answers["video_worker"] == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def test_logs_carry_the_lambda_context_and_the_request_id(edge_run: EdgeRun) -> None:
    requests = [line for line in edge_run.logs if line["message"] in ("request", "request failed")]
    assert len(requests) == 4
    for line in requests:
        assert line["service"] == "rekognito"
        assert line["function_name"] == "api"
        assert line["function_request_id"].startswith("req-api-")
        assert "cold_start" in line
        assert line["xray_trace_id"] == TRACE_ROOT
        # The correlation id is API Gateway's request id
        assert line["correlation_id"] == line["request_id"] == f"apigw-{line['operation']}"
    failed = [line for line in edge_run.logs if line["message"] == "ingest failed"]
    assert [line["correlation_id"] for line in failed] == ["message-1"]


def test_events_and_images_are_never_logged(edge_run: EdgeRun) -> None:
    image = base64.b64encode(image_path("obama.jpg").read_bytes()).decode()
    assert image[1000:1100] not in edge_run.stdout
    assert not any(line["message"] == "Event received" for line in edge_run.logs)
    assert not any("Records" in json.dumps(line) for line in edge_run.logs)


def test_ingest_and_retention_write_emf_metrics(edge_run: EdgeRun) -> None:
    (failure,) = [doc for doc in edge_run.emf if "IngestFailures" in doc]
    assert failure["Reason"] == "MalformedMessage"
    assert failure["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Reason", "service"]]
    assert failure["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Rekognito"
    (ignored,) = [doc for doc in edge_run.emf if "FacesPurged" in doc]
    assert ignored["FacesPurged"] == [0.0]


def test_store_and_models_are_traced_without_their_data(edge_run: EdgeRun) -> None:
    names = {segment["name"] for segment in edge_run.segments}
    assert "## handler" in names  # Powertools' capture_lambda_handler
    assert "## store.create_collection" in names
    assert any(name.startswith("## face_analyzer.") for name in names), names
    assert all(segment["trace_id"] == TRACE_ROOT for segment in edge_run.segments)
    for segment in edge_run.segments:
        # capture_response=False, and our subsegments record no arguments or results
        assert "handler response" not in json.dumps(segment.get("metadata", {}))
        assert "FaceId" not in json.dumps(segment)
