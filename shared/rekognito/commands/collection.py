"""``rekognito collection``: per-collection governance settings.

``configure`` writes ``Collection.policy``, read by the operations:

* ``min_match_threshold`` + ``threshold_mode``: searches asking for a lower
  FaceMatchThreshold/UserMatchThreshold are refused (``refuse``, the default) or run at the
  minimum (``clamp``);
* ``review_below``: matches under this similarity carry ``"ReviewRequired": true``;
* ``retention_days``: faces older than this are purged (``rekognito retention run``);
* ``require_consent_tag``: IndexFaces is refused until the collection carries this tag;
* ``video_search``: ``deny`` refuses StartFaceSearch on the collection (docs/video.md).

A value of 0 removes the minimum threshold, review level or retention. Values are checked
(finite numbers in range, see ``rekognito.policy``) and every change is audited before it is
made, with the old and new value of each key (``update_collection``, by ``cli:<user>``).
A value stored by other means that is not valid is shown, with what is wrong, never a crash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from dataclasses import replace
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env
from rekognito.policy import PolicyError, check_value, json_safe, problems


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _checked(key: str, text: str) -> float:
    value = _finite(text)
    if value == 0:
        return value  # 0 removes the setting
    try:
        return float(check_value(key, value))
    except PolicyError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _percent(text: str) -> float:
    return _checked("min_match_threshold", text)


def _days(text: str) -> float:
    return _checked("retention_days", text)


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "collection", help="show or configure a collection's governance settings"
    )
    actions = parser.add_subparsers(dest="collection_command", required=True)

    configure = actions.add_parser("configure", help="set thresholds, review level, retention, consent tag")
    configure.add_argument("collection_id")
    configure.add_argument(
        "--min-threshold", type=_percent, help="lowest match threshold allowed (0 removes)"
    )
    configure.add_argument(
        "--threshold-mode", choices=("refuse", "clamp"), help="below the minimum: refuse|clamp"
    )
    configure.add_argument(
        "--review-below", type=_percent, help="flag matches under this similarity (0 removes)"
    )
    configure.add_argument("--retention-days", type=_days, help="purge faces older than this (0 removes)")
    consent = configure.add_mutually_exclusive_group()
    consent.add_argument(
        "--require-consent-tag", metavar="TAG", help="refuse IndexFaces until this tag is set"
    )
    consent.add_argument("--no-consent-tag", action="store_true", help="stop requiring a consent tag")
    configure.add_argument(
        "--video-search", choices=("allow", "deny"), help="allow or refuse StartFaceSearch (default allow)"
    )
    add_data_dir(configure)
    configure.set_defaults(run=run_configure)

    show = actions.add_parser("show", help="print a collection's settings, tags and counts as JSON")
    show.add_argument("collection_id")
    add_data_dir(show)
    show.set_defaults(run=run_show)


def _services(args: argparse.Namespace) -> Any:
    from rekognito.services import Services
    from rekognito.settings import Settings

    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    return Services(Settings.from_env())


def policy_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The policy keys to set (a value) or remove (None) as the options ask."""
    changes: dict[str, Any] = {}
    if args.min_threshold is not None:
        changes["min_match_threshold"] = args.min_threshold or None
    if args.threshold_mode is not None:
        changes["threshold_mode"] = args.threshold_mode
    if args.review_below is not None:
        changes["review_below"] = args.review_below or None
    if args.retention_days is not None:
        changes["retention_days"] = args.retention_days or None
    if args.require_consent_tag is not None:
        changes["require_consent_tag"] = args.require_consent_tag
    if args.no_consent_tag:
        changes["require_consent_tag"] = None
    if getattr(args, "video_search", None) is not None:
        changes["video_search"] = args.video_search
    return changes


def describe(services: Any, collection_id: str) -> dict[str, Any]:
    store = services.store
    collection = store.get_collection(collection_id)
    found = {
        "CollectionId": collection.collection_id,
        "CollectionArn": collection.arn,
        "Created": dt.datetime.fromtimestamp(collection.created_at, dt.UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "FaceModelVersion": collection.face_model_version,
        "FaceCount": store.count_faces(collection_id),
        "UserCount": store.count_users(collection_id),
        "Tags": dict(collection.tags),
        "Policy": json_safe(dict(collection.policy)),
    }
    bad = problems(collection.policy)
    if bad:
        found["PolicyProblems"] = bad
    return found


def run_configure(args: argparse.Namespace) -> int:
    from rekognito.errors import RekognitionError
    from rekognito.security.audit import audit_scope, cli_principal

    changes = policy_changes(args)
    if not changes:
        print("rekognito collection configure: nothing to change (see --help)", file=sys.stderr)
        return 2
    services = _services(args)
    try:
        collection = services.store.get_collection(args.collection_id)
        policy = {**collection.policy, **changes}
        policy = {key: value for key, value in policy.items() if value is not None}
        # The audited store checks the values and writes the audit entry (old and new values)
        # before the change; if that entry cannot be written, nothing changes.
        with audit_scope(cli_principal(), operation="ConfigureCollection"):
            services.store.update_collection(replace(collection, policy=policy))
        print(json.dumps(describe(services, args.collection_id), indent=2, sort_keys=True))
    except RekognitionError as error:
        print(f"rekognito collection configure: {error.message}", file=sys.stderr)
        return 1
    finally:
        services.close()
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rekognito.errors import RekognitionError

    services = _services(args)
    try:
        print(json.dumps(describe(services, args.collection_id), indent=2, sort_keys=True))
    except RekognitionError as error:
        print(f"rekognito collection show: {error.message}", file=sys.stderr)
        return 1
    finally:
        services.close()
    return 0
