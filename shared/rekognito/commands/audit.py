"""``rekognito audit``: check the hash chain of the audit trail, export entries."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser("audit", help="verify or export the audit trail")
    actions = parser.add_subparsers(dest="audit_command", required=True)

    verify = actions.add_parser("verify", help="check that no entry was edited, removed, moved or inserted")
    add_data_dir(verify)
    verify.set_defaults(run=run_verify)

    export = actions.add_parser("export", help="print entries as JSON lines")
    export.add_argument("--collection", help="only entries about this collection")
    export.add_argument("--since", help="only entries since an ISO date/time (UTC) or 7d, 12h, 30m ago")
    add_data_dir(export)
    export.set_defaults(run=run_export)


def _sink(args: argparse.Namespace) -> Any:
    from rekognito.security.audit import DynamoDBAuditSink, FileAuditSink
    from rekognito.settings import Settings

    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    settings = Settings.from_env()
    if settings.audit_table:
        return DynamoDBAuditSink(settings.audit_table, settings.region)
    return FileAuditSink(settings.data_dir)


def run_verify(args: argparse.Namespace) -> int:
    sink = _sink(args)
    result = sink.verify()
    if not result.ok:
        print(
            f"audit trail BROKEN at line {result.broken_line}: {result.reason} ({sink.describe()}; "
            f"{result.entries} entries before it are intact)",
            file=sys.stderr,
        )
        return 1
    print(f"audit trail intact: {result.entries} entries, head {result.head} ({sink.describe()})")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from rekognito.security.audit import parse_since, select

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as error:
        print(f"rekognito audit export: {error}", file=sys.stderr)
        return 2
    out = sys.stdout
    try:
        for entry in select(_sink(args).entries(), collection=args.collection, since=since):
            out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        out.flush()
    except BrokenPipeError:  # the reader (head, less) has gone: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
