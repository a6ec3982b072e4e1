"""ftplan: answers about a fine-tuning use case in, an expert strategy and a runnable training repo out."""

__version__ = "0.1.0"

import os as _os

# ftplan uses no pydantic plugins; skipping their entry-point scan saves start-up time on every command.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
