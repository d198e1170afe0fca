"""``d365leads auth``: login (device code, secret variable, certificate), status, logout."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from cli_helpers import Cli
from click.testing import Result

_CLIENT_ID = "11111111-1111-1111-1111-111111111111"


def _profiles_file(config: Path) -> dict[str, object]:
    return json.loads((config / "profiles.json").read_text())


def _app_login(
    run: Cli,
    *args: str,
    client_id: str = _CLIENT_ID,
    tenant: str = "contoso",
    env: dict[str, str | None] | None = None,
    input: str | None = None,
) -> Result:
    """``auth login`` as an application (client id and tenant), with no token variable set."""
    login = ("auth", "login", "--client-id", client_id, "--tenant", tenant)
    return Cli(run.url, token=None)(*login, *args, env=env, input=input)


def test_login_with_secret_env_saves_only_the_variable_name(run: Cli, isolated_env: Path) -> None:
    secret = "s3cr3t-value-never-on-disk"
    result = _app_login(
        run,
        "--profile",
        "app",
        "--secret-env",
        "MY_APP_SECRET",
        tenant="contoso.onmicrosoft.com",
        env={"MY_APP_SECRET": secret},
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["profile"] == "app"
    assert out["auth"] == "client-secret"
    assert "user_id" in out
    text = (isolated_env / "profiles.json").read_text()
    assert secret not in text
    assert "MY_APP_SECRET" in text
    assert stat.S_IMODE(os.stat(isolated_env / "profiles.json").st_mode) == 0o600
    assert secret not in result.stdout + result.stderr

    # The saved profile works on its own: no URL flag, no token variable.
    result = Cli(None, token=None)("whoami", env={"MY_APP_SECRET": secret})
    assert result.exit_code == 0, result.stderr
    # ... and fails clearly, naming the variable, when the secret is not exported.
    result = Cli(None, token=None)("whoami")
    assert result.exit_code == 2
    assert "MY_APP_SECRET" in result.stderr


def test_login_secret_env_missing_variable(run: Cli) -> None:
    result = _app_login(run, "--secret-env", "NOT_EXPORTED_VAR")
    assert result.exit_code == 2
    assert "NOT_EXPORTED_VAR" in result.stderr


def test_login_secret_env_rejects_a_secret_value(run: Cli) -> None:
    result = _app_login(run, "--secret-env", "abc~def.secret-looking")
    assert result.exit_code == 2
    assert "NAME of a variable" in result.stderr
    assert "abc~def.secret-looking" not in result.stderr


def test_login_needs_exactly_one_method(run: Cli) -> None:
    result = run("auth", "login")
    assert result.exit_code == 2
    assert "--device-code" in result.stderr
    result = run("auth", "login", "--device-code", "--secret-env", "X")
    assert result.exit_code == 2
    assert "--device-code and --secret-env" in result.stderr


def test_login_application_needs_client_and_tenant(run: Cli) -> None:
    result = run("auth", "login", "--secret-env", "X")
    assert result.exit_code == 2
    assert "--client-id and --tenant" in result.stderr


def test_login_secret_stdin_without_keyring(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # keyring may be installed (twine brings it); this is the machine without it
    monkeypatch.setattr("d365leads.cli.profiles._keyring", lambda: None)
    result = run(
        "auth",
        "login",
        "--client-id",
        _CLIENT_ID,
        "--tenant",
        "contoso",
        "--secret-stdin",
        input="abc\n",
    )
    assert result.exit_code == 2
    assert "keyring" in result.stderr


def test_login_bad_certificate(run: Cli, tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text("not a pem")
    result = _app_login(run, "--certificate", str(pem))
    assert result.exit_code == 2
    assert "AZURE_CLIENT_CERTIFICATE_PATH" in result.stderr or "PEM" in result.stderr


def test_device_code_login_status_logout(run: Cli, isolated_env: Path) -> None:
    result = Cli(run.url, token=None)("auth", "login", "--profile", "me", "--device-code")
    assert result.exit_code == 0, result.stderr
    # MSAL showed the device-code instructions on stderr, not stdout.
    assert "sign in" in result.stderr.lower()
    saved = _profiles_file(isolated_env)
    cache = Path(saved["profiles"]["me"]["token_cache_path"])  # type: ignore[index]
    assert cache.exists()
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600

    result = Cli(None, token=None)("auth", "status")
    assert result.exit_code == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["profile"] == "me"
    assert status["auth"] == "device-code"
    assert status["signed_in"] is True

    result = Cli(None, token=None)("auth", "logout")
    assert result.exit_code == 0, result.stderr
    assert not cache.exists()
    assert "token cache" in result.stderr


def test_profiles_list_use_and_forget(run: Cli) -> None:
    for name in ("one", "two"):
        result = run("auth", "login", "--profile", name, "--device-code", "--no-verify")
        assert result.exit_code == 0, result.stderr
    rows = json.loads(run("auth", "profiles").stdout)
    assert [r["name"] for r in rows] == ["one", "two"]
    assert [r["default"] for r in rows] == [False, True]
    assert run("auth", "use", "one").exit_code == 0
    rows = json.loads(run("auth", "profiles").stdout)
    assert [r["default"] for r in rows] == [True, False]
    result = run("--profile", "one", "auth", "logout", "--forget")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(run("auth", "profiles").stdout)
    assert [r["name"] for r in rows] == ["two"]
    result = run("--profile", "nope", "auth", "status")
    assert result.exit_code == 2
    assert "no profile named 'nope'" in result.stderr


def test_status_offline_shows_sources(run: Cli) -> None:
    result = run("auth", "status", "--offline")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["auth"] == "static"
    assert data["secret_from"] == "$D365_ACCESS_TOKEN"
    assert "signed_in" not in data
    assert run.token not in result.stdout  # type: ignore[operator]


def test_status_reports_rejected_token_with_exit_3(fake_dataverse: object) -> None:
    fake_dataverse.options.strict_auth = True  # type: ignore[attr-defined]
    result = Cli(fake_dataverse.org_url, token="stale")("auth", "status")  # type: ignore[attr-defined]
    assert result.exit_code == 3


class MemoryKeyring:
    """An in-memory stand-in for the OS keyring (the ``keyring`` package API)."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, user: str, secret: str) -> None:
        self.store[(service, user)] = secret

    def get_password(self, service: str, user: str) -> str | None:
        return self.store.get((service, user))

    def delete_password(self, service: str, user: str) -> None:
        del self.store[(service, user)]


def test_secret_stdin_goes_to_the_keyring(
    run: Cli, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = MemoryKeyring()
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    secret = "kept-in-the-keyring-only"
    result = _app_login(
        run,
        "--profile",
        "kr",
        "--secret-stdin",
        client_id="22222222-2222-2222-2222-222222222222",
        input=secret + "\n",
    )
    assert result.exit_code == 0, result.stderr
    assert list(keyring.store.values()) == [secret]
    assert secret not in (isolated_env / "profiles.json").read_text()
    assert secret not in result.stdout + result.stderr
    rows = json.loads(run("auth", "profiles").stdout)
    assert rows[0]["secret_from"] == "OS keyring"
    # The profile signs in with the keyring secret alone.
    result = Cli(None, token=None)("whoami")
    assert result.exit_code == 0, result.stderr
    result = Cli(None, token=None)("auth", "logout")
    assert result.exit_code == 0, result.stderr
    assert keyring.store == {}
    assert "keyring secret" in result.stderr


def _self_signed_pem(path: Path) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d365leads-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )


def test_login_with_certificate(run: Cli, isolated_env: Path, tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    _self_signed_pem(pem)
    result = _app_login(
        run,
        "--profile",
        "cert",
        "--certificate",
        str(pem),
        client_id="33333333-3333-3333-3333-333333333333",
    )
    assert result.exit_code == 0, result.stderr
    saved = _profiles_file(isolated_env)["profiles"]["cert"]  # type: ignore[index]
    assert saved["auth"] == "certificate"
    assert saved["certificate_path"] == str(pem.resolve())
    assert "PRIVATE KEY" not in (isolated_env / "profiles.json").read_text()
    status = json.loads(Cli(None, token=None)("auth", "status").stdout)
    assert status["auth"] == "certificate"
    assert status["signed_in"] is True


def test_expired_device_code_login_is_exit_3_when_not_interactive(
    run: Cli, isolated_env: Path
) -> None:
    result = Cli(run.url, token=None)("auth", "login", "--profile", "me", "--device-code")
    assert result.exit_code == 0, result.stderr
    assert Cli(None, token=None)("whoami").exit_code == 0  # the cached sign-in is used
    cache = Path(_profiles_file(isolated_env)["profiles"]["me"]["token_cache_path"])  # type: ignore[index]
    cache.unlink()  # the refresh token is gone, as after expiry or revocation
    result = Cli(None, token=None)("whoami")
    assert result.exit_code == 3
    assert "auth login --device-code" in result.stderr


def test_login_again_reuses_the_profile_url(run: Cli) -> None:
    assert run("auth", "login", "--profile", "p", "--device-code", "--no-verify").exit_code == 0
    result = Cli(None, token=None)("auth", "login", "--profile", "p", "--device-code")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["url"] == run.url
    result = Cli(None, token=None)("auth", "login", "--profile", "new", "--device-code")
    assert result.exit_code == 2
    assert "--url" in result.stderr


def test_status_with_expired_device_code_login_fails_fast(run: Cli, isolated_env: Path) -> None:
    assert Cli(run.url, token=None)("auth", "login", "--device-code").exit_code == 0
    cache = Path(_profiles_file(isolated_env)["profiles"]["default"]["token_cache_path"])  # type: ignore[index]
    cache.unlink()
    result = Cli(None, token=None)("auth", "status")
    assert result.exit_code == 3
    assert "not interactive" in result.stderr


def test_login_rejects_a_bad_url(run: Cli, isolated_env: Path) -> None:
    result = run(
        "auth", "login", "--url", "http://contoso.crm.dynamics.com", "--device-code", use_url=False
    )
    assert result.exit_code == 2
    assert "plain http" in result.stderr
    assert not (isolated_env / "profiles.json").exists()
