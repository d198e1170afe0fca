"""Named connection profiles saved on this machine.

Profiles live in ``profiles.json`` in the per-user config directory (``platformdirs``; override
with ``D365LEADS_CONFIG_DIR``). The file is written with mode 0600 and never holds a secret:
a client secret is either read from an environment variable whose *name* the profile stores
(``--secret-env``), or kept in the OS keyring when the optional ``keyring`` package is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

from d365leads.config import normalize_org_url
from d365leads.errors import ConfigError

__all__ = [
    "CONFIG_DIR_ENV",
    "KEYRING_SERVICE",
    "PROFILE_ENV",
    "Profile",
    "ProfileStore",
    "complete_profile",
    "config_dir",
    "keyring_available",
]

CONFIG_DIR_ENV = "D365LEADS_CONFIG_DIR"
PROFILE_ENV = "D365_PROFILE"
KEYRING_SERVICE = "d365leads"
_FILE_NAME = "profiles.json"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory holding ``profiles.json`` (and, by default, the token cache)."""
    source = os.environ if env is None else env
    override = source.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("d365leads", appauthor=False))


def complete_profile(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """Shell completion for profile names (the saved profiles starting with ``incomplete``).

    Completion must never fail loudly: an unreadable profile file completes nothing.
    """
    try:
        names = ProfileStore(config_dir()).names()
    except (ConfigError, OSError):
        return []
    return [name for name in names if name.startswith(incomplete)]


def _keyring() -> Any | None:
    try:
        return importlib.import_module("keyring")
    except ImportError:
        return None


def keyring_available() -> bool:
    """True when the optional ``keyring`` package can be imported."""
    return _keyring() is not None


@dataclass
class Profile:
    """One saved connection: org URL and how to sign in (no secrets)."""

    name: str
    url: str
    auth: str = "auto"
    tenant_id: str | None = None
    client_id: str | None = None
    secret_env: str | None = None
    secret_in_keyring: bool = False
    certificate_path: str | None = None
    token_cache_path: str | None = None

    def __post_init__(self) -> None:
        self.url = normalize_org_url(self.url, setting="--url")

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to ``profiles.json``."""
        data = asdict(self)
        data.pop("name")
        return {k: v for k, v in data.items() if v not in (None, False)}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Profile:
        """Build a profile from its JSON form, ignoring keys from newer versions."""
        known = {f.name for f in fields(cls)} - {"name"}
        return cls(name=name, **{k: v for k, v in data.items() if k in known})

    def keyring_user(self) -> str:
        """The keyring entry name for this profile's client secret."""
        return f"{self.name}:{self.client_id or ''}"

    def client_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """Fetch the client secret from the named env var or the keyring, if configured."""
        source = os.environ if env is None else env
        if self.secret_env:
            value = source.get(self.secret_env, "")
            if not value:
                raise ConfigError(
                    f"profile {self.name!r} reads its client secret from ${self.secret_env}, "
                    f"which is not set: export {self.secret_env}=...",
                    setting=self.secret_env,
                )
            return value
        if self.secret_in_keyring:
            keyring = _keyring()
            if keyring is None:
                raise ConfigError(
                    f"profile {self.name!r} keeps its secret in the OS keyring, but the "
                    "'keyring' package is not installed: pip install keyring",
                    setting="keyring",
                )
            value = keyring.get_password(KEYRING_SERVICE, self.keyring_user())
            if not value:
                raise ConfigError(
                    f"no secret for profile {self.name!r} in the OS keyring: run "
                    f"'d365leads auth login --profile {self.name}' again",
                    setting="keyring",
                )
            return str(value)
        return None

    def store_secret(self, secret: str) -> None:
        """Save ``secret`` in the OS keyring (raises ConfigError if keyring is missing)."""
        keyring = _keyring()
        if keyring is None:
            raise ConfigError(
                "the 'keyring' package is not installed, so the secret cannot be stored: "
                "pip install keyring, or use --secret-env VAR to read it from a variable",
                setting="keyring",
            )
        keyring.set_password(KEYRING_SERVICE, self.keyring_user(), secret)
        self.secret_in_keyring = True

    def forget_secret(self) -> bool:
        """Delete this profile's keyring entry; True if one was removed."""
        if not self.secret_in_keyring:
            return False
        keyring = _keyring()
        if keyring is None:
            return False
        try:
            keyring.delete_password(KEYRING_SERVICE, self.keyring_user())
        except Exception:  # keyring backends raise their own PasswordDeleteError types
            return False
        return True


class ProfileStore:
    """Reads and writes ``profiles.json`` atomically, with mode 0600."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else config_dir()
        self.path = self.directory / _FILE_NAME

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"default": None, "profiles": {}}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(
                f"{self.path} is not valid JSON ({exc}); fix or delete it",
                setting=str(self.path),
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            raise ConfigError(f"{self.path} has an unexpected layout", setting=str(self.path))
        data.setdefault("profiles", {})
        data.setdefault("default", None)
        return data

    def _save(self, data: Mapping[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def names(self) -> list[str]:
        """Profile names, sorted."""
        return sorted(self._load()["profiles"])

    def default_name(self) -> str | None:
        """The profile used when neither ``--profile`` nor ``D365_PROFILE`` is given."""
        name = self._load().get("default")
        return str(name) if name else None

    def all(self) -> list[Profile]:
        """Every saved profile."""
        data = self._load()
        return [Profile.from_json(n, p) for n, p in sorted(data["profiles"].items())]

    def get(self, name: str) -> Profile:
        """The profile called ``name``; ConfigError naming the known ones if it is missing."""
        data = self._load()
        raw = data["profiles"].get(name)
        if raw is None:
            known = ", ".join(sorted(data["profiles"])) or "none saved yet"
            raise ConfigError(
                f"no profile named {name!r} (known: {known}); create it with "
                f"'d365leads auth login --profile {name} --url ...'",
                setting="--profile",
            )
        return Profile.from_json(name, raw)

    def find(self, name: str | None) -> Profile | None:
        """``get(name)`` if a name is given, else the default profile if one is set."""
        if name:
            return self.get(name)
        default = self.default_name()
        if default and default in self._load()["profiles"]:
            return self.get(default)
        return None

    def save(self, profile: Profile, *, make_default: bool = True) -> None:
        """Add or replace ``profile``; optionally make it the default."""
        data = self._load()
        data["profiles"][profile.name] = profile.to_json()
        if make_default or not data.get("default"):
            data["default"] = profile.name
        self._save(data)

    def set_default(self, name: str) -> None:
        """Make ``name`` the default profile."""
        self.get(name)
        data = self._load()
        data["default"] = name
        self._save(data)

    def remove(self, name: str) -> Profile:
        """Delete a profile and return it."""
        profile = self.get(name)
        data = self._load()
        del data["profiles"][name]
        if data.get("default") == name:
            data["default"] = next(iter(sorted(data["profiles"])), None)
        self._save(data)
        return profile
