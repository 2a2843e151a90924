"""`bastion history IMAGE`: how the image was made, from its config's history, as Docker's
table (IMAGE CREATED CREATED BY SIZE COMMENT), newest first; `--format json`, `-q`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from bastion.engine.image_verbs import HistoryRow

HELP = "show the history of an image"
#: Docker truncates CREATED BY to this many characters unless --no-trunc.
CREATED_BY_WIDTH = 45


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-H",
        "--human",
        choices=("true", "false"),
        default="true",
        help="sizes and dates in human form (default: true)",
    )
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the image ids")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("image")


def run(args: argparse.Namespace) -> int:
    from bastion.cli.front.engine_args import open_engine

    with open_engine(args) as engine:
        rows = engine.history(args.image)
    if args.quiet:
        for row in rows:
            sys.stdout.write(f"{_id(row, args.no_trunc)}\n")
        return 0
    docs = [_document(row, args.no_trunc, args.human == "true") for row in rows]
    if args.format == "json":
        for doc in docs:
            sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    table = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    table += [[d["ID"], d["CreatedSince"], d["CreatedBy"], d["Size"], d["Comment"]] for d in docs]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    return 0


def _id(row: HistoryRow, no_trunc: bool) -> str:
    if row.id == "<missing>" or no_trunc:
        return row.id
    return row.id[7:19]


def _document(row: HistoryRow, no_trunc: bool, human: bool) -> dict[str, str]:
    from bastion.cli.front.engine_args import human_age, human_size
    from bastion.engine.image_verbs import created_stamp

    created_by = row.created_by.replace("\t", " ").replace("\n", " ")  # one line, as Docker
    if not no_trunc and len(created_by) > CREATED_BY_WIDTH:
        created_by = created_by[: CREATED_BY_WIDTH - 1] + "…"
    stamp = created_stamp(row.created) if row.created else 0.0
    return {
        "ID": _id(row, no_trunc),
        "CreatedAt": row.created,
        "CreatedSince": (human_age(stamp) if human else row.created) if row.created else "",
        "CreatedBy": created_by,
        "Size": human_size(row.size) if human else str(row.size),
        "Comment": row.comment,
    }
