"""``rekognito import DIR --collection C``: index a folder of photos in-process, resumably."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from rekognito.commands._common import add_data_dir, apply_env


def register(subcommands: Any) -> None:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "import",
        help="index every .jpg/.jpeg/.png under a folder into a collection (a re-run skips unchanged files)",
    )
    parser.add_argument("folder", type=Path, help="folder to walk (recursively)")
    parser.add_argument("--collection", required=True, help="CollectionId to index into")
    parser.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    parser.add_argument(
        "--external-id-from",
        choices=("name", "path"),
        default="name",
        help="ExternalImageId from the file name (alice.jpg -> alice) or the relative path "
        "(people/alice/1.jpg -> people:alice:1); default name",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help=f"images analysed in parallel (default: the CPU cores, {default_workers()} here)",
    )
    parser.add_argument("--report", type=Path, help="also write the summary as JSON to this file")
    add_data_dir(parser)
    parser.set_defaults(run=run)


def default_workers() -> int:
    """One worker per core this process may use (each runs the models with one thread)."""
    from rekognito.settings import available_cores

    return available_cores()


class Progress:
    """A tqdm progress bar on stderr: images done, rate, ETA, and the counts so far.

    On a terminal it redraws in place; otherwise (logs, CI) it writes a line at most every
    10 seconds.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        # Looked up at call time: a default bound at import would pin a replaced stderr.
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.bar: Any = None

    def __call__(self, summary: Any) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=summary.total,
                unit="img",
                file=self.stream,
                mininterval=0.5 if self.tty else 10.0,
                dynamic_ncols=self.tty,
                ascii=not self.tty,
                smoothing=0.1,
            )
        self.bar.set_postfix(
            faces=summary.faces_indexed,
            unchanged=summary.skipped_unchanged,
            no_face=summary.no_face,
            failed=summary.failed,
            refresh=False,
        )
        self.bar.update(summary.seen - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_summary(data: dict[str, Any]) -> None:
    say = sys.stderr.write
    say(
        f"imported {data['images']} images from {data['root']} into {data['collection_id']} "
        f"in {data['elapsed_s']:.1f} s\n"
        f"  indexed: {data['indexed_images']} images, {data['faces_indexed']} faces\n"
        f"  unchanged (skipped): {data['skipped_unchanged']}\n"
        f"  no face: {data['no_face']}\n"
        f"  failed: {data['failed']}\n"
    )
    for failure in data["failures"][:20]:
        say(f"    {failure['path']}: {failure['reason']}\n")
    if data["failed"] > 20:
        say(f"    ... {data['failed'] - 20} more (see --report)\n")


def run(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        sys.stderr.write(f"rekognito import: {args.folder} is not a folder\n")
        return 2
    apply_env(REKOGNITO_DATA_DIR=args.data_dir)
    from rekognito.api._generated import ResourceNotFoundException
    from rekognito.ingest.folder import import_folder
    from rekognito.logs import configure_logging
    from rekognito.services import get_services

    services = get_services()
    configure_logging("WARNING")
    if args.workers > 1:
        from rekognito.inference.analyzer_pool import AnalyzerPool

        # One analyzer (its own model sessions) per worker, so the workers' analyses overlap.
        services.face_analyzer = AnalyzerPool.create(services.settings, args.workers)
    try:
        _ensure_collection(services, args.collection, create=args.create)
    except ResourceNotFoundException:
        sys.stderr.write(f"rekognito import: no collection {args.collection!r} (add --create to create it)\n")
        return 2
    progress = Progress()
    # A store that has a bulk mode (OpenSearch) refreshes every 30 s during the import, not
    # after every image; faces are searchable at the latest 30 s after they are written.
    bulk_load = getattr(services.store, "bulk_load", None)
    loading = bulk_load(args.collection, refresh_interval="30s") if bulk_load else contextlib.nullcontext()
    try:
        with loading:
            summary = import_folder(
                services,
                args.collection,
                args.folder,
                external_id_from=args.external_id_from,
                workers=args.workers,
                progress=progress,
            )
    finally:
        progress.close()
        services.close()
    data = summary.as_dict()
    _print_summary(data)
    if args.report is not None:
        args.report.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if summary.failed else 0


def _ensure_collection(services: Any, collection_id: str, *, create: bool) -> None:
    from rekognito.api._generated import ResourceNotFoundException
    from rekognito.operations.collections import create_collection
    from rekognito.request import RequestContext

    try:
        services.store.get_collection(collection_id)
    except ResourceNotFoundException:
        if not create:
            raise
        create_collection(
            RequestContext(services, "import", "CreateCollection"), {"CollectionId": collection_id}
        )
