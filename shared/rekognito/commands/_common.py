"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
import os


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("REKOGNITO_DATA_DIR", "data"),
        help="where collections, faces and the audit trail are kept (default: ./data)",
    )


def apply_env(**values: str | None) -> None:
    """Pass CLI options to Settings.from_env, the one place settings are read."""
    for key, value in values.items():
        if value is not None:
            os.environ[key] = value
