"""ftplan: answers about a fine-tuning use case in, an expert strategy and a runnable training repo out."""

import os as _os
import sys as _sys
import types as _types

__version__ = "0.1.0"

# ftplan uses no pydantic plugins; skipping their entry-point scan saves start-up time on every command.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def _skip_pydantic_plugin_scan() -> None:
    """pydantic imports importlib.metadata (and with it the email package) to look for plugins the first time
    it builds a validator: ~20 ms, a tenth of `ftplan plan`. With plugins disabled, as above, its own
    `get_plugins()` returns nothing; answer that without the import. A user who enables plugins (setting
    PYDANTIC_DISABLE_PLUGINS to anything else) gets pydantic's real loader."""
    if _os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ("__all__", "1", "true"):
        return
    if "pydantic.plugin._loader" in _sys.modules:
        return
    loader = _types.ModuleType("pydantic.plugin._loader", "ftplan: plugins disabled (PYDANTIC_DISABLE_PLUGINS)")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    _sys.modules["pydantic.plugin._loader"] = loader


_skip_pydantic_plugin_scan()
