"""``rekognito audit``: verify the chain, anchor it outside the machine, export and look up entries.

* ``verify [--expect CHECKPOINT]``: every entry intact and in order, the head authenticated
  by the audit key, and (with ``--expect``) the checkpointed entry still there;
* ``checkpoint``: verify, then print ``<seq>:<hash>`` of the last entry, to keep elsewhere;
* ``export``: entries as JSON lines;
* ``lookup s3://bucket/key``: the entries that used this S3 object (names are keyed
  pseudonyms in the trail; this needs the audit key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "audit", help="verify, checkpoint, export or look up the audit trail"
    )
    actions = parser.add_subparsers(dest="audit_command", required=True)

    verify = actions.add_parser("verify", help="check that no entry was edited, removed, moved or inserted")
    verify.add_argument(
        "--expect",
        metavar="CHECKPOINT",
        help="a value printed by 'rekognito audit checkpoint' earlier: fail if that entry is gone",
    )
    add_data_dir(verify)
    verify.set_defaults(run=run_verify)

    checkpoint = actions.add_parser(
        "checkpoint", help="verify, then print <seq>:<hash> of the last entry to keep somewhere else"
    )
    add_data_dir(checkpoint)
    checkpoint.set_defaults(run=run_checkpoint)

    export = actions.add_parser("export", help="print entries as JSON lines")
    export.add_argument("--collection", help="only entries about this collection")
    export.add_argument("--since", help="only entries since an ISO date/time (UTC) or 7d, 12h, 30m ago")
    add_data_dir(export)
    export.set_defaults(run=run_export)

    lookup = actions.add_parser("lookup", help="entries that used an S3 object (s3://bucket/key)")
    lookup.add_argument("object", metavar="s3://BUCKET/KEY")
    add_data_dir(lookup)
    lookup.set_defaults(run=run_lookup)


def _sink(args: argparse.Namespace) -> Any:
    from rekognito.security.factory import create_audit_sink
    from rekognito.settings import Settings

    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    return create_audit_sink(Settings.from_env())


def _verify(sink: Any, expect: Any = None) -> Any:
    result = sink.verify(expect=expect)
    if not result.ok:
        print(
            f"audit trail BROKEN at line {result.broken_line}: {result.reason} ({sink.describe()}; "
            f"{result.entries} entries before it are intact)",
            file=sys.stderr,
        )
    return result


def run_verify(args: argparse.Namespace) -> int:
    from rekognito.security.audit import Checkpoint

    try:
        expect = Checkpoint.parse(args.expect) if args.expect else None
    except ValueError as error:
        print(f"rekognito audit verify: {error}", file=sys.stderr)
        return 2
    sink = _sink(args)
    result = _verify(sink, expect)
    if not result.ok:
        return 1
    anchored = f", contains checkpoint {expect.seq}" if expect else ""
    print(f"audit trail intact: {result.entries} entries, head {result.head}{anchored} ({sink.describe()})")
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    sink = _sink(args)
    result = _verify(sink)
    if not result.ok:
        return 1
    if result.entries == 0:
        print("rekognito audit checkpoint: the trail is empty; nothing to anchor yet", file=sys.stderr)
        return 1
    print(f"{result.entries}:{result.head}")
    print(
        "Keep this value away from this machine; 'rekognito audit verify --expect VALUE' fails if "
        "the trail no longer contains that entry.",
        file=sys.stderr,
    )
    return 0


def _write(entries: Iterable[dict[str, Any]]) -> None:
    out = sys.stdout
    try:
        for entry in entries:
            out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        out.flush()
    except BrokenPipeError:  # the reader (head, less) has gone: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_export(args: argparse.Namespace) -> int:
    from rekognito.security.audit import parse_since, select

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as error:
        print(f"rekognito audit export: {error}", file=sys.stderr)
        return 2
    _write(select(_sink(args).entries(), collection=args.collection, since=since))
    return 0


def run_lookup(args: argparse.Namespace) -> int:
    from rekognito.security.audit import mentions

    bucket, _, key = args.object.removeprefix("s3://").partition("/")
    if not args.object.startswith("s3://") or not bucket or not key:
        print("rekognito audit lookup: expected s3://BUCKET/KEY", file=sys.stderr)
        return 2
    sink = _sink(args)
    if not sink.key.exists():
        print(
            f"rekognito audit lookup: no audit key at {sink.key.path}: S3 object names were withheld",
            file=sys.stderr,
        )
        return 2
    name = sink.key.s3_name(bucket, key, create=False)
    found = [entry for entry in sink.entries() if mentions(entry, name)]
    _write(found)
    print(f"{len(found)} entries used {args.object} (recorded as {name})", file=sys.stderr)
    return 0
