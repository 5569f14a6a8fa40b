"""Run the four Lambda handlers (functions/*/app.py) as Lambda would, in this process.

Used by ``tests/integration/test_lambda_edge.py`` in a child process, because what Lambda
sets before the handler module is imported (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``,
``AWS_XRAY_DAEMON_ADDRESS``) decides how Powertools and the X-Ray SDK start. stdout gets
what Lambda would ship to CloudWatch (the JSON log lines and EMF documents); the last line
is a JSON summary of the handlers' answers.

    python -m tests.support.lambda_edge PHOTO
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 2048

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"


def load(function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"lambda_{function}_app", ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(module: ModuleType, event: dict[str, Any], function: str) -> Any:
    # Lambda sets a fresh trace header for every invocation.
    os.environ["_X_AMZN_TRACE_ID"] = f"Root={TRACE_ROOT};Parent={uuid.uuid4().hex[:16]};Sampled=1"
    return module.handler(event, LambdaContext(function, f"req-{function}-{uuid.uuid4().hex[:8]}"))


def api_event(operation: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "POST",
        "headers": {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"RekognitionService.{operation}",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "stage": "dev", "identity": {"sourceIp": "203.0.113.10"}},
    }


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"message-{number}",
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rekognito-dev-IngestQueue",
                "awsRegion": "us-east-1",
            }
            for number, body in enumerate(bodies)
        ]
    }


def main(photo: Path) -> None:
    image = base64.b64encode(photo.read_bytes()).decode()
    api, ingest, retention = load("api"), load("ingest"), load("retention")
    video = load("video_worker")
    answers: dict[str, Any] = {}
    for operation, body in (
        ("CreateCollection", {"CollectionId": "family"}),
        ("IndexFaces", {"CollectionId": "family", "Image": {"Bytes": image}, "ExternalImageId": "obama"}),
        ("SearchFacesByImage", {"CollectionId": "family", "Image": {"Bytes": image}}),
        ("DescribeCollection", {"CollectionId": "nope"}),
    ):
        response = invoke(api, api_event(operation, body, f"apigw-{operation}"), "api")
        answers[operation] = response["statusCode"]
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    answers["ingest"] = invoke(ingest, sqs_event(test_event, "not json"), "ingest")
    answers["retention"] = invoke(retention, {"id": "scheduled-event-1", "detail": {}}, "retention")
    # A body that is not a piece of a job comes back (its semantics: test_video_lambda.py).
    answers["video_worker"] = invoke(video, sqs_event("not json"), "video_worker")
    print(json.dumps({"answers": answers}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
