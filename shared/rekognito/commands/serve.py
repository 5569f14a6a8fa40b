"""``rekognito serve``: the local endpoint with embedded defaults.

Besides the Rekognition API it runs a local S3 and SQS (the drop-folder ingestion of the
SAM app, see ``rekognito.local_aws``; ``--aws localstack`` uses a running LocalStack's
instead) unless ``--no-local-aws`` is given, and requires
SigV4-signed requests from known principals unless ``--insecure-no-auth`` is given.
It refuses to start on a data directory other users can read (``security/data_dir.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env
from rekognito.logs import configure_logging

log = logging.getLogger("rekognito.serve")

DEFAULT_PORT = 8085


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "serve", help="run the local Rekognition endpoint"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--s3-port", type=int, default=None, help="port of the local S3/SQS (default: port + 1)"
    )
    parser.add_argument("--no-local-aws", action="store_true", help="do not run the local S3/SQS drop folder")
    parser.add_argument(
        "--aws",
        default="embedded",
        metavar="embedded|localstack[=URL]",
        help="where the drop folder's S3 and SQS run: embedded (default: in this process, kept in "
        "the data dir) or a running LocalStack (default URL http://localhost:4566)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept unsigned requests from anyone, with full rights (demos only)",
    )
    add_data_dir(parser)
    parser.add_argument(
        "--no-preload", action="store_true", help="load models on first request, not at start"
    )
    parser.set_defaults(run=run)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rekognito.local_aws import AwsTarget
    from rekognito.security.data_dir import DataDirError, check_private, ensure_private_dir

    os.umask(0o077)
    try:
        ensure_private_dir(Path(args.data_dir))
        check_private(Path(args.data_dir))
    except (DataDirError, OSError) as error:
        _say(f"rekognito serve: {error}")
        return 2
    s3_port = args.s3_port if args.s3_port is not None else args.port + 1
    auth_mode = "none" if args.insecure_no_auth else os.environ.get("REKOGNITO_AUTH_MODE", "sigv4")
    try:
        target = AwsTarget.parse(args.aws)
    except ValueError as exc:
        _say(f"rekognito serve: {exc}")
        return 2
    local_s3 = target.endpoint_url or f"http://{args.host}:{s3_port}"
    apply_env(
        REKOGNITO_DATA_DIR=args.data_dir,
        REKOGNITO_AUTH_MODE=auth_mode,
        REKOGNITO_S3_ENDPOINT_URL=None if args.no_local_aws else local_s3,
    )
    from rekognito.server import LocalEndpoint
    from rekognito.services import get_services

    services = get_services()
    configure_logging(services.settings.log_level)
    if services.settings.auth_mode == "none":
        _say("!" * 78)
        _say("!! --insecure-no-auth: ANYONE who can reach this port can index and search faces.")
        _say("!! Biometric data: use this for demos on loopback only.")
        _say("!" * 78)
        log.warning("authentication disabled", extra={"auth_mode": "none"})
    else:
        from rekognito.security.bootstrap import ensure_admin_principal

        ensure_admin_principal(services, _say)
    if not args.no_preload:
        _ = services.face_analyzer
        _ = services.store
    local_aws = None
    if not args.no_local_aws and target.endpoint_url is not None:
        from rekognito.local_aws import start_localstack

        local_aws = start_localstack(services, endpoint_url=target.endpoint_url, say=_say)
    elif not args.no_local_aws:
        from rekognito.local_aws import start_local_aws

        local_aws = start_local_aws(services, host=args.host, port=s3_port, say=_say)
    endpoint = LocalEndpoint(args.host, args.port)
    stop = threading.Event()

    def shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    endpoint.start()
    from rekognito.security.retention import start_retention_thread

    retention = start_retention_thread(services)
    from rekognito.video.service import start_local_video

    video = start_local_video(services, local_aws)
    _say(f"rekognito: serving the Rekognition API on {endpoint.url}")
    _say(f"  data dir: {services.settings.data_dir}")
    credentials = (services.settings.data_dir / "credentials").resolve()
    if services.settings.auth_mode != "none" and credentials.is_file():
        _say(f"  credentials: export AWS_SHARED_CREDENTIALS_FILE={credentials} AWS_PROFILE=rekognito")
    _say(f"  try: aws rekognition list-collections --endpoint-url {endpoint.url} --region us-east-1")
    log.info("listening", extra={"url": endpoint.url, "data_dir": str(services.settings.data_dir)})
    stop.wait()
    endpoint.stop()
    retention.stop()
    if video is not None:
        video.stop()
    if local_aws is not None:
        local_aws.stop()
    services.close()
    return 0
