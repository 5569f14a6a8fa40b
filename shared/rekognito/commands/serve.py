"""``rekognito serve``: the local endpoint with embedded defaults."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env
from rekognito.logs import configure_logging

log = logging.getLogger("rekognito.serve")

DEFAULT_PORT = 8085


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser("serve", help="run the local Rekognition endpoint")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    add_data_dir(parser)
    parser.add_argument("--no-preload", action="store_true", help="load models on first request, not at start")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    from rekognito.server import LocalEndpoint
    from rekognito.services import get_services

    services = get_services()
    configure_logging(services.settings.log_level)
    if not args.no_preload:
        _ = services.face_analyzer
        _ = services.store
    endpoint = LocalEndpoint(args.host, args.port)
    stop = threading.Event()

    def shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    endpoint.start()
    print(f"rekognito: serving the Rekognition API on {endpoint.url}", file=sys.stderr, flush=True)
    print(f"  data dir: {services.settings.data_dir}", file=sys.stderr, flush=True)
    print(
        f"  try: aws rekognition list-collections --endpoint-url {endpoint.url} --region us-east-1",
        file=sys.stderr,
        flush=True,
    )
    log.info("listening", extra={"url": endpoint.url, "data_dir": str(services.settings.data_dir)})
    stop.wait()
    endpoint.stop()
    services.close()
    return 0
