"""`makerwatch schema`: the protocol's JSON Schema."""

from __future__ import annotations

import argparse
import json

from makerwatch.cli.options import AddCommand
from makerwatch.core.protocol import json_schema


def add_commands(add: AddCommand) -> None:
    schema = add("schema", help="print the protocol's JSON Schema")
    schema.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0
