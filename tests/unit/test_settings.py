"""Settings: environment parsing, validation and the URL safety rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from d365leads import ConfigError, Settings
from d365leads.config import ENV_VARS, normalize_org_url

ORG = "https://contoso.crm.dynamics.com"


def test_from_env_reads_every_variable() -> None:
    env = {
        "D365_URL": ORG + "/api/data/v9.2/",
        "D365_ACCESS_TOKEN": "tok-abc",
        "D365_AUTH": "Static",
        "AZURE_TENANT_ID": "tenant",
        "AZURE_CLIENT_ID": "client",
        "AZURE_CLIENT_SECRET": "s3cret-value",
        "AZURE_CLIENT_CERTIFICATE_PATH": "~/cert.pem",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw-value",
        "AZURE_AUTHORITY_HOST": "login.microsoftonline.us",
        "D365_TOKEN_CACHE": "/tmp/cache.json",
        "D365_TIMEOUT": "30.5",
        "D365_REQUEST_DEADLINE": "90",
        "D365_MAX_RESPONSE_MB": "0.5",
        "D365_MAX_RETRIES": "2",
        "D365_MAX_RETRY_TIME": "60",
        "D365_PAGE_SIZE": "250",
        "D365_KEEP_AFFINITY": "false",
        "D365_POOL_SIZE": "32",
        "D365_LIMIT_WINDOW": "5",
    }
    assert set(env) == set(ENV_VARS.values())
    s = Settings.from_env(env)
    assert s.url == ORG
    assert s.api_url == ORG + "/api/data/v9.2/"
    assert s.access_token is not None and s.access_token.reveal() == "tok-abc"
    assert s.auth == "static"
    assert (s.tenant_id, s.client_id) == ("tenant", "client")
    assert s.client_secret is not None and s.client_secret.reveal() == "s3cret-value"
    assert s.client_certificate_path == Path("~/cert.pem").expanduser()
    assert s.authority_host == "login.microsoftonline.us"
    assert s.token_cache_path == Path("/tmp/cache.json")
    assert (s.timeout, s.max_retries, s.max_retry_time) == (30.5, 2, 60.0)
    assert (s.page_size, s.keep_affinity, s.pool_size, s.limit_window) == (250, False, 32, 5.0)
    assert (s.request_deadline, s.max_response_mb, s.max_response_bytes) == (90.0, 0.5, 524288)
    text = repr(s)
    for secret in ("tok-abc", "s3cret-value", "pw-value"):
        assert secret not in text and secret not in str(s)


def test_defaults_and_overrides() -> None:
    s = Settings.from_env({"D365_URL": ORG, "D365_TIMEOUT": "10"}, timeout=5, page_size=None)
    assert s.timeout == 5
    assert (s.max_retries, s.max_retry_time, s.page_size, s.keep_affinity) == (5, 300, 5000, True)
    assert s.replace(page_size=10).page_size == 10
    assert (s.request_deadline, s.max_response_mb) == (600.0, 256.0)
    assert s.max_response_bytes == 256 * 1024 * 1024


def test_missing_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="D365_URL is not set") as info:
        Settings.from_env({})
    assert info.value.setting == "D365_URL"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("D365_TIMEOUT", "soon", "D365_TIMEOUT='soon' is not a number"),
        ("D365_TIMEOUT", "0", "D365_TIMEOUT"),
        ("D365_MAX_RETRIES", "2.5", "D365_MAX_RETRIES='2.5' is not a whole number"),
        ("D365_MAX_RETRIES", "-1", "D365_MAX_RETRIES"),
        ("D365_PAGE_SIZE", "5001", "D365_PAGE_SIZE=5001 is out of range"),
        ("D365_KEEP_AFFINITY", "maybe", "D365_KEEP_AFFINITY='maybe' is not a boolean"),
        ("D365_AUTH", "kerberos", "D365_AUTH='kerberos' is not supported"),
        ("D365_POOL_SIZE", "0", "D365_POOL_SIZE"),
        ("D365_MAX_RESPONSE_MB", "lots", "D365_MAX_RESPONSE_MB='lots' is not a number of megab"),
        ("D365_MAX_RESPONSE_MB", "0", "D365_MAX_RESPONSE_MB=0.0 is out of range"),
        ("D365_MAX_RESPONSE_MB", "-1", "D365_MAX_RESPONSE_MB"),
        ("D365_REQUEST_DEADLINE", "forever", "D365_REQUEST_DEADLINE='forever' is not a number"),
        ("D365_REQUEST_DEADLINE", "0", "D365_REQUEST_DEADLINE=0.0 is out of range"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        Settings.from_env({"D365_URL": ORG, var: value})
    assert info.value.setting == var


@pytest.mark.parametrize(
    "url",
    [
        "http://contoso.crm.dynamics.com",
        "ftp://contoso.crm.dynamics.com",
        "contoso.crm.dynamics.com",
        "https://contoso.crm.dynamics.com/main.aspx",
        "https://contoso.crm.dynamics.com/?x=1",
        "https://user:pw@contoso.crm.dynamics.com",
        "http://10.0.0.1:8080",
        "",
    ],
)
def test_unsafe_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"D365_URL": url})
    assert info.value.setting == "D365_URL"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.5.0.1", "http://127.5.0.1"),
        ("http://localhost:9/api/data/v9.2", "http://localhost:9"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("HTTPS://Contoso.CRM.dynamics.com/", "https://contoso.crm.dynamics.com"),
    ],
)
def test_loopback_http_and_normalisation(url: str, expected: str) -> None:
    assert normalize_org_url(url) == expected


def test_the_settings_table_documents_every_variable() -> None:
    import d365leads.config as config

    doc = config.__doc__ or ""
    for name, var in ENV_VARS.items():
        assert f"``{name}``" in doc and f"``{var}``" in doc, var


def test_device_code_cache_defaults_to_the_per_user_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from d365leads.auth import default_token_cache_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = default_token_cache_path()
    assert path.is_relative_to(tmp_path)
    assert path.name == "msal_token_cache.json" and "d365leads" in path.parts
