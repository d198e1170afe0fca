"""Reading the PEM file of a certificate sign-in: the key, the certificate and its thumbprint."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

from d365leads.errors import ConfigError

__all__ = ["load_certificate"]

_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL)
_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC |ENCRYPTED )?)PRIVATE KEY-----\s.*?-----END \1PRIVATE KEY-----",
    re.DOTALL,
)


def load_certificate(path: Path) -> tuple[str, str, str]:
    """Read a PEM file holding a certificate and its private key.

    Returns ``(private_key_pem, certificate_pem, sha1_thumbprint_hex)``; the thumbprint is the
    SHA-1 of the certificate's DER bytes, as Entra ID expects.
    """
    var = "AZURE_CLIENT_CERTIFICATE_PATH"
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"{var}={str(path)!r}: file not found", setting=var) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{var}={str(path)!r} cannot be read as a PEM file: {type(exc).__name__}", setting=var
        ) from None
    cert = _CERT_BLOCK.search(text)
    key = _KEY_BLOCK.search(text)
    if cert is None or key is None:
        missing = "certificate" if cert is None else "private key"
        raise ConfigError(
            f"{var}={str(path)!r} has no PEM {missing}: the file must hold both the "
            "certificate and its private key",
            setting=var,
        )
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.group(0))
    except ValueError:
        raise ConfigError(
            f"{var}={str(path)!r}: the certificate is not valid PEM", setting=var
        ) from None
    return key.group(0), cert.group(0), hashlib.sha1(der).hexdigest().upper()
