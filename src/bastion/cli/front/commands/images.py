"""`bastion images`: the engine's images, as Docker's table (REPOSITORY TAG IMAGE ID CREATED
SIZE), their ids (`-q`) or JSON (`--format json`)."""

from __future__ import annotations

import datetime
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine import ImageRecord

HELP = "list images"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="only the image ids")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        records = engine.images()
    if args.quiet:
        seen: set[str] = set()
        for record in records:
            if record.image_id not in seen:
                seen.add(record.image_id)
                sys.stdout.write(f"{record.image_id[7:19]}\n")
        return 0
    if args.format == "json":
        for record in records:
            sys.stdout.write(json.dumps(_document(record)) + "\n")
        return 0
    _table(records)
    return 0


def _split(name: str) -> tuple[str, str]:
    if name.startswith("sha256:"):  # an untagged image, named by its id
        return "<none>", "<none>"
    repository, _, tag = name.rpartition(":")
    if "/" in tag or not repository:
        return name, "<none>"
    return repository, tag


def _created(record: ImageRecord) -> float:
    try:
        return datetime.datetime.fromisoformat(record.created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return record.pulled


def _document(record: ImageRecord) -> dict[str, object]:
    from bastion.cli.front.engine_args import human_age, human_size

    repository, tag = _split(record.name)
    return {
        "Repository": repository,
        "Tag": tag,
        "ID": record.image_id[7:19],
        "Digest": record.digest,
        "CreatedAt": record.created,
        "CreatedSince": human_age(_created(record)),
        "Size": human_size(record.size),
    }


def _table(records: list[ImageRecord]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if sys.stdout.isatty() else None, pad_edge=False)
    for column in ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"):
        table.add_column(column, no_wrap=True)
    for record in records:
        doc = _document(record)
        table.add_row(
            str(doc["Repository"]),
            str(doc["Tag"]),
            str(doc["ID"]),
            str(doc["CreatedSince"]),
            str(doc["Size"]),
        )
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
