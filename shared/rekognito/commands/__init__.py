"""Subcommands of the ``rekognito`` CLI; each module defines ``register(subparsers)``."""
