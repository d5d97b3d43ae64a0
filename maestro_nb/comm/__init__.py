"""The lab extension's face: the `maestro_nb` comm, its protocol's schema, and its snapshots."""

from __future__ import annotations

from typing import Any

from .channel import TARGET, Channel, register, unregister
from .schema import PROTOCOL, ProtocolError
from .snapshot import dag_payload, snapshot

__all__ = ["TARGET", "PROTOCOL", "Channel", "Handler", "ProtocolError", "register", "unregister", "snapshot",
           "dag_payload"]


def __getattr__(name: str) -> Any:
    # The handler loads when a frontend opens a comm (or on first use here), not at %load_ext.
    if name == "Handler":
        from .handler import Handler

        return Handler
    raise AttributeError(f"module 'maestro_nb.comm' has no attribute {name!r}")
