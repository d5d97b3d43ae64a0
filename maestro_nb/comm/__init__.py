"""The lab extension's face: the `maestro_nb` comm, its protocol's schema, and its snapshots."""

from __future__ import annotations

from .channel import TARGET, Channel, register, unregister
from .handler import Handler
from .schema import PROTOCOL, ProtocolError
from .snapshot import dag_payload, snapshot

__all__ = ["TARGET", "PROTOCOL", "Channel", "Handler", "ProtocolError", "register", "unregister", "snapshot",
           "dag_payload"]
