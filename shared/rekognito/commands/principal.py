"""``rekognito principal``: access keys of the local endpoint and what each may do.

Grants are ``action:collections`` with action one of administer, index, search, delete,
audit, detect or ``*``, and collections ``*``, an id, or ``prefix*`` (docs/governance.md).
Every change is audited before it is made (a write-ahead entry by ``cli:<user>``); when
the audit trail cannot be written, nothing changes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rekognito.commands._common import add_data_dir, apply_env
from rekognito.errors import RekognitionError
from rekognito.security.principals import Grant, PrincipalError, PrincipalRegistry


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "principal", help="manage the access keys of the local endpoint and their grants"
    )
    actions = parser.add_subparsers(dest="principal_command", required=True)

    create = actions.add_parser("create", help="create a principal; prints its access key and secret once")
    create.add_argument("name")
    create.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ACTION:COLLECTIONS",
        help="grant, e.g. 'search:family' or 'index:family*' (repeatable)",
    )
    add_data_dir(create)
    create.set_defaults(run=run_create)

    listing = actions.add_parser("list", help="list principals, access key ids and grants (never secrets)")
    add_data_dir(listing)
    listing.set_defaults(run=run_list)

    delete = actions.add_parser("delete", help="delete a principal; its key stops working at once")
    delete.add_argument("name")
    add_data_dir(delete)
    delete.set_defaults(run=run_delete)

    for verb, helptext in (
        ("grant", "add grants to a principal"),
        ("revoke", "remove grants from a principal"),
    ):
        change = actions.add_parser(verb, help=helptext)
        change.add_argument("name")
        change.add_argument("grants", nargs="+", metavar="ACTION:COLLECTIONS")
        add_data_dir(change)
        change.set_defaults(run=run_grant if verb == "grant" else run_revoke)


def _registry(args: argparse.Namespace) -> PrincipalRegistry:
    return PrincipalRegistry(Path(args.data_dir))


@contextmanager
def _audited(args: argparse.Namespace, operation: str, change: str, **details: Any) -> Iterator[None]:
    """Write the change's audit entry first; raise (changing nothing) if it cannot be written."""
    from rekognito.security.audit import audit_scope, audited_change, cli_principal
    from rekognito.services import Services
    from rekognito.settings import Settings

    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    services = Services(Settings.from_env())
    try:
        with (
            audit_scope(cli_principal(), operation=operation),
            audited_change(services.audit, change, **details),
        ):
            yield
    finally:
        services.close()


def _fail(error: Exception, code: int = 2) -> int:
    print(f"rekognito principal: {error}", file=sys.stderr)
    return code


def _grants(texts: list[str]) -> list[str]:
    return [str(Grant.parse(text)) for text in texts]


def run_create(args: argparse.Namespace) -> int:
    try:
        grants = _grants(args.allow)
        with _audited(args, "PrincipalCreate", "create_principal", name=args.name, grants=grants):
            principal, secret = _registry(args).create(args.name, grants)
    except PrincipalError as error:
        return _fail(error)
    except RekognitionError as error:  # the audit trail cannot be written: nothing changed
        return _fail(error, code=1)
    print(f"principal:             {principal.name}")
    print(f"aws_access_key_id:     {principal.access_key_id}")
    print(f"aws_secret_access_key: {secret}")
    print(f"grants:                {', '.join(str(g) for g in principal.grants) or '(none)'}")
    print("The secret is shown once; store it now.", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        principals = _registry(args).principals()
    except PrincipalError as error:
        return _fail(error)
    for principal in sorted(principals.values(), key=lambda p: p.name):
        grants = ", ".join(str(g) for g in principal.grants) or "(none)"
        print(f"{principal.name}\t{principal.access_key_id}\t{principal.created_at}\t{grants}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    registry = _registry(args)
    try:
        if registry.get(args.name) is None:
            raise PrincipalError(f"no principal named {args.name}")
        with _audited(args, "PrincipalDelete", "delete_principal", name=args.name):
            registry.delete(args.name)
    except PrincipalError as error:
        return _fail(error)
    except RekognitionError as error:  # the audit trail cannot be written: nothing changed
        return _fail(error, code=1)
    print(f"deleted principal {args.name}")
    return 0


def _change(args: argparse.Namespace, *, grant: bool) -> int:
    registry = _registry(args)
    try:
        changed = _grants(args.grants)
        current = registry.get(args.name)
        if current is None:
            raise PrincipalError(f"no principal named {args.name}")
        before = [str(g) for g in current.grants]
        with _audited(
            args,
            "PrincipalGrant" if grant else "PrincipalRevoke",
            "change_grants",
            name=args.name,
            grants_old=before,
            added=changed if grant else [],
            removed=[] if grant else changed,
        ):
            if grant:
                principal = registry.change_grants(args.name, add=changed)
            else:
                principal = registry.change_grants(args.name, remove=changed)
    except PrincipalError as error:
        return _fail(error)
    except RekognitionError as error:  # the audit trail cannot be written: nothing changed
        return _fail(error, code=1)
    print(f"{principal.name}: {', '.join(str(g) for g in principal.grants) or '(no grants)'}")
    return 0


def run_grant(args: argparse.Namespace) -> int:
    return _change(args, grant=True)


def run_revoke(args: argparse.Namespace) -> int:
    return _change(args, grant=False)
