"""Checks what the kernel sends against maestro_nb/comm/protocol.schema.json (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

SCHEMA = json.loads(resources.files("maestro_nb.comm").joinpath("protocol.schema.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator


def _check(value: Any, definition: str) -> None:
    schema = {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    schema.pop("oneOf")
    _VALIDATOR(schema).validate(json.loads(json.dumps(value, allow_nan=False)))


def check_reply(value: Any) -> None:
    _check(value, "reply")


def check_update(value: Any) -> None:
    _check(value, "update")


def check_snapshot(value: Any) -> None:
    _check(value, "snapshot")


def check_dag(value: Any) -> None:
    _check(value, "dag")
