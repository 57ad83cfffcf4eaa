"""JSON Schemas of ``policy.yaml`` and ``universe.yaml``, generated from the models, for editor
completion; ``config/schema/`` holds the committed copies (a test keeps them current).

Regenerate after changing a model::

    python -m trader247.config_schema --write-schemas config/schema

(``python -m trader247.configfiles --write-schemas`` still works.) Validating the files is
``trader247 validate``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pydantic import BaseModel

from trader247.core.config import PolicyConfig, UniverseConfig

__all__ = ["SCHEMA_FILES", "json_schemas", "main", "write_json_schemas"]

SCHEMA_FILES: Final[dict[str, type[BaseModel]]] = {
    "policy.schema.json": PolicyConfig,
    "universe.schema.json": UniverseConfig,
}


def json_schemas() -> dict[str, str]:
    """File name -> JSON Schema text of both files, generated from the models."""
    out = {}
    for name, model in SCHEMA_FILES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(),
        }
        out[name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def write_json_schemas(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``policy.schema.json`` and ``universe.schema.json`` into ``out_dir``."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trader247.configfiles",
        description="Write the JSON Schemas of the 247trader YAML files (validate them with "
        "`trader247 validate`).",
    )
    parser.add_argument(
        "--write-schemas", metavar="DIR", required=True, help="write the JSON Schemas into DIR"
    )
    args = parser.parse_args(argv)
    for path in write_json_schemas(args.write_schemas):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
