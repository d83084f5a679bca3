"""Secrets at rest: AES-256-GCM with key ids, keys kept apart from the database and SECRET_KEY.

Keys come from ``PORTAL_SECRET_KEYS`` (a comma list of url-safe base64 32-byte keys, newest
first). On a laptop, when the variable is unset, a key is generated once into
``PORTAL_SECRET_KEYS_FILE`` (default outside the repository, in the user's data folder), so a
database dump or a copy of the project alone never reveals a secret.

A stored value reads ``v1:<key id>:<base64 of nonce + ciphertext>``. The key id picks the key,
so old values keep decrypting after a new key is put first; ``manage.py rotate_secrets``
re-encrypts them with the newest one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

PREFIX = "v1"
NONCE_BYTES = 12


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted: wrong or missing key, or tampered value."""


def default_keys_file() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "case-portal" / "secret-keys"


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError as exc:
        raise ImproperlyConfigured("PORTAL_SECRET_KEYS holds a value that is not base64.") from exc
    if len(key) != 32:
        raise ImproperlyConfigured("Each PORTAL_SECRET_KEYS key must be 32 bytes (AES-256), base64 encoded.")
    return key


def _read_or_create_keys_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with owner-only permissions: it is the one thing that unlocks stored secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key() + "\n")
    return path.read_text().strip().replace("\n", ",")


@lru_cache(maxsize=1)
def load_keys() -> tuple[tuple[str, bytes], ...]:
    """The keys, newest first, as (key id, key) pairs."""
    from django.conf import settings

    text = os.environ.get("PORTAL_SECRET_KEYS", "").strip()
    if not text:
        if getattr(settings, "PRODUCTION", False):
            raise ImproperlyConfigured("DJANGO_ENV=production needs PORTAL_SECRET_KEYS.")
        keys_file = Path(os.environ.get("PORTAL_SECRET_KEYS_FILE") or default_keys_file())
        text = _read_or_create_keys_file(keys_file)
    keys = [_decode_key(item) for item in text.split(",") if item.strip()]
    if not keys:
        raise ImproperlyConfigured("PORTAL_SECRET_KEYS is empty.")
    return tuple((key_id(key), key) for key in keys)


def encrypt(plaintext: str, *, purpose: str) -> str:
    """Encrypt with the newest key. ``purpose`` binds the value to its column (associated data)."""
    kid, key = load_keys()[0]
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(stored: str, *, purpose: str) -> str:
    """Decrypt a value from ``encrypt``; raise rather than ever hand ciphertext on."""
    try:
        prefix, kid, payload = stored.split(":", 2)
    except ValueError:
        raise SecretDecryptionError("Stored secret is not in the expected format.") from None
    if prefix != PREFIX:
        raise SecretDecryptionError("Stored secret has an unknown format version.")
    key = dict(load_keys()).get(kid)
    if key is None:
        raise SecretDecryptionError(f"No key with id {kid} in PORTAL_SECRET_KEYS.")
    raw = base64.urlsafe_b64decode(payload.encode())
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
    except InvalidTag:
        raise SecretDecryptionError("Stored secret failed its integrity check.") from None


def needs_rotation(stored: str) -> bool:
    """True when the value was sealed with a key other than the newest."""
    parts = stored.split(":", 2)
    return len(parts) != 3 or parts[1] != load_keys()[0][0]
