"""``rekognito retention run``: delete faces older than their collection's retention."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "retention", help="apply per-collection retention"
    )
    actions = parser.add_subparsers(dest="retention_command", required=True)
    run_parser = actions.add_parser("run", help="delete (and audit) the faces past their retention now")
    add_data_dir(run_parser)
    run_parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rekognito.security.retention import purge_expired
    from rekognito.services import Services
    from rekognito.settings import Settings

    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    services = Services(Settings.from_env())
    try:
        purged = purge_expired(services)
    finally:
        services.close()
    print(json.dumps({collection: len(ids) for collection, ids in purged.items()}, sort_keys=True))
    return 0
