"""Keyed pseudonyms for application and candidate ids.

A pseudonym is HMAC-SHA256(secret, kind + ":" + id), computed inside DuckDB so millions of ids are
hashed set-based. The secret lives in `settings.pseudonym_key_file` (created on first use, mode
0600), never in the warehouse: without it, ad-hoc SQL cannot turn a pseudonym back into an id by
hashing candidate ids, and with it re-loads map the same id to the same pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["application", "candidate"]

PREFIX: dict[Kind, str] = {"application": "a_", "candidate": "c_"}
"""Pseudonyms carry their kind, so an application pseudonym is never mistaken for a candidate's."""

HEX_CHARS = 20
"""80 bits of the HMAC: collisions among even 10^7 ids have probability below 10^-9."""

_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


class PseudonymKeyError(ValueError):
    """The key file exists but does not hold a usable key."""


@dataclass(frozen=True)
class PseudonymKey:
    """The HMAC secret, with the padded inner and outer keys the SQL expression needs."""

    secret: bytes

    @property
    def ipad(self) -> bytes:
        return bytes(b ^ 0x36 for b in self._block_key())

    @property
    def opad(self) -> bytes:
        return bytes(b ^ 0x5C for b in self._block_key())

    def _block_key(self) -> bytes:
        key = hashlib.sha256(self.secret).digest() if len(self.secret) > _BLOCK else self.secret
        return key.ljust(_BLOCK, b"\0")

    def pseudonym(self, kind: Kind, value: str) -> str:
        """The pseudonym in Python (the reference the SQL expression is tested against)."""
        digest = hmac.new(self.secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return PREFIX[kind] + digest[:HEX_CHARS]


def load_or_create_key(path: Path) -> PseudonymKey:
    """Read the secret from `path`, creating it (32 random bytes, hex, mode 0600) on first use.

    The new key is written to a temp file beside `path`, flushed to disk, then linked into place
    (link fails if the name exists, so two first loads agree on one key): a full disk or a
    folder without write permission raises PseudonymKeyError and leaves no key at all, never a
    partial one that would break every later load.
    """
    path = Path(path)
    if not path.exists():
        _create_key(path)
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise PseudonymKeyError(f"cannot read pseudonym key file {path}: {_why(error)}") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise PseudonymKeyError(f"pseudonym key file {path} does not hold a hex key") from None
    if len(secret) < 16:
        raise PseudonymKeyError(f"pseudonym key file {path} holds fewer than 16 bytes")
    return PseudonymKey(secret)


def _why(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error).splitlines()[0]


def _create_key(path: Path) -> None:
    temp = path.with_name(f".{path.name}.new-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = (secrets.token_hex(32) + "\n").encode()
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another load created it first; read theirs
    except OSError as error:
        raise PseudonymKeyError(
            f"cannot create pseudonym key file {path}: {_why(error)}; nothing was written"
        ) from None
    finally:
        try:
            temp.unlink()
        except OSError:
            pass


def pseudonym_sql(kind: Kind, expr: str) -> str:
    """SQL for the pseudonym of the text expression `expr` (NULL stays NULL).

    Binds `$hmac_ipad` and `$hmac_opad` (blobs, see `key_params`). HMAC = H((K ^ opad) ||
    H((K ^ ipad) || m)), RFC 2104; DuckDB's sha256 hashes blobs and returns hex.
    """
    message = f"encode('{kind}:' || {expr})"
    inner = f"unhex(sha256($hmac_ipad || {message}))"
    return f"('{PREFIX[kind]}' || left(sha256($hmac_opad || {inner}), {HEX_CHARS}))"


def key_params(key: PseudonymKey) -> dict[str, bytes]:
    return {"hmac_ipad": key.ipad, "hmac_opad": key.opad}
