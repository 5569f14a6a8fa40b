"""The ``rekognito`` command. Each subcommand lives in ``rekognito.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from rekognito import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rekognito", description="Self-hosted Rekognition-compatible face search"
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{module.name}").register(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Files written under the data dir (faces, audit, keys, credentials) are the owner's only.
    previous = os.umask(0o077)
    try:
        code: int = args.run(args)
    finally:
        os.umask(previous)
    return code


if __name__ == "__main__":
    sys.exit(main())
