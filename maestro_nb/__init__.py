"""maestro_nb: Netflix Maestro-style workflows with step breakpoints, inside a Jupyter kernel."""

from __future__ import annotations

from typing import Any

__all__ = ["Engine", "MaestroError", "load_ipython_extension", "sql", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Heavy imports (duckdb, pandas, pyarrow) wait until first use, to keep `import` fast.
    if name == "Engine":
        from .engine.engine import Engine

        return Engine
    if name == "MaestroError":
        from .errors import MaestroError

        return MaestroError
    raise AttributeError(f"module 'maestro_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext maestro_nb`: register the magics and bind an engine to the user namespace."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext maestro_nb`: close the kernel engine and remove its variables."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def sql(query: str) -> Any:
    """Run SQL over the kernel engine's state and return a pandas DataFrame."""
    from .magics.kernel import current_engine

    return current_engine().sql(query)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt lab extension is (`jupyter labextension develop --overwrite .`)."""
    return [{"src": "labextension", "dest": "maestro_nb"}]
