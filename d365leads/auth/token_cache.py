"""The device-code sign-in's token cache file: where it lives, and reading and writing it ``0600``.

The cache object is MSAL's ``SerializableTokenCache``; this module only moves its text to and
from disk, so it needs no ``msal`` import of its own.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from d365leads.errors import ConfigError

__all__ = ["default_token_cache_path", "load_token_cache", "save_token_cache"]


def default_token_cache_path() -> Path:
    """The per-user MSAL cache file for device-code sign-in."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("d365leads")) / "msal_token_cache.json"


def load_token_cache(cache: Any, path: Path) -> None:
    """Fill ``cache`` from ``path``; a missing or corrupt file leaves it empty."""
    try:
        data = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(
            f"D365_TOKEN_CACHE={str(path)!r} cannot be read: {exc.strerror}",
            setting="D365_TOKEN_CACHE",
        ) from None
    with contextlib.suppress(ValueError):  # a corrupt cache only means signing in again
        cache.deserialize(data)


def save_token_cache(cache: Any, path: Path) -> None:
    """Write ``cache`` to ``path`` (mode ``0600``, atomically) if it changed since the last save."""
    if not cache.has_state_changed:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # the umask may have narrowed, never widened, the mode
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(cache.serialize())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.replace(tmp, path)
    cache.has_state_changed = False
