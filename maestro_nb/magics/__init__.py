"""The notebook face: magics, kernel variables and displays over the kernel's engine."""

from __future__ import annotations

from typing import Any

from .kernel import current_engine, session_for

__all__ = ["load_ipython_extension", "unload_ipython_extension", "current_engine"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, put the live `paused` collection in the user namespace, and answer
    the lab extension's comm (in a kernel)."""
    from ..comm import register
    from .magic import MaestroMagics

    magics = MaestroMagics(ipython)
    ipython.register_magics(magics)
    magics.session.push_paused()
    register(ipython, magics.session)


def unload_ipython_extension(ipython: Any) -> None:
    """Stop answering the lab extension's comm, close the kernel engine and remove the variables
    the extension put in the namespace."""
    from ..comm import unregister

    session = session_for(ipython)
    unregister(ipython, session)
    session.unload()
