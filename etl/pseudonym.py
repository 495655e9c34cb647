"""Keyed pseudonyms for application and candidate ids.

A pseudonym is HMAC-SHA256(secret, kind + ":" + id), computed inside DuckDB so millions of ids are
hashed set-based. The secret lives in `settings.pseudonym_key_file` (created by the first load
into a new warehouse, mode 0600), never in the warehouse: without it, ad-hoc SQL cannot turn a
pseudonym back into an id by hashing candidate ids, and with it re-loads map the same id to the
same pseudonym.

Rotation: a key file holds one hex secret per line, oldest first. Rotating appends a secret and
re-keys the warehouse's pseudonyms p -> prefix + HMAC(new secret, kind + ":" + p), which needs
only the stored pseudonyms (the source ids are not in the warehouse). A load then hashes an id
through every secret in turn, so after a rotation neither the old secrets alone nor the new one
alone link an id to the warehouse's pseudonyms.

The warehouse records the key's fingerprint (`fingerprint`: an HMAC of a constant, never the
key), so a load with another key is refused instead of giving every person a second pseudonym.
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


FINGERPRINT_MESSAGE = b"signalboard pseudonym key fingerprint"
"""The constant whose HMAC under the key is the key's fingerprint (RFC 2104: without the key the
HMAC of a known message reveals nothing about the key)."""

FINGERPRINT_CHARS = 16


class PseudonymKeyError(ValueError):
    """The key file is missing or does not hold a usable key."""


def _pads(secret: bytes) -> tuple[bytes, bytes]:
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


@dataclass(frozen=True)
class PseudonymKey:
    """The HMAC secret (and the secrets rotations added, oldest first), with the padded inner and
    outer keys the SQL expression needs."""

    secret: bytes
    rotations: tuple[bytes, ...] = ()

    @property
    def secrets(self) -> tuple[bytes, ...]:
        return (self.secret, *self.rotations)

    @property
    def ipad(self) -> bytes:
        return _pads(self.secret)[0]

    @property
    def opad(self) -> bytes:
        return _pads(self.secret)[1]

    def pseudonym(self, kind: Kind, value: str) -> str:
        """The pseudonym in Python (the reference the SQL expression is tested against)."""
        text = value
        for secret in self.secrets:
            digest = hmac.new(secret, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()
            text = PREFIX[kind] + digest[:HEX_CHARS]
        return text

    @property
    def fingerprint(self) -> str:
        """HMAC of a fixed message through every secret: equal fingerprints, equal pseudonyms."""
        message = FINGERPRINT_MESSAGE
        for secret in self.secrets:
            message = hmac.new(secret, message, hashlib.sha256).hexdigest().encode()
        return message.decode()[:FINGERPRINT_CHARS]

    def rotated(self) -> PseudonymKey:
        """This key with a fresh random secret appended."""
        return PseudonymKey(self.secret, (*self.rotations, secrets.token_bytes(32)))

    def text(self) -> str:
        """The key file's content: one hex secret per line, oldest first."""
        return "".join(s.hex() + "\n" for s in self.secrets)


def new_key() -> PseudonymKey:
    """A fresh key in memory (32 random bytes); `write_key` stores it."""
    return PseudonymKey(secrets.token_bytes(32))


def read_key(path: Path) -> PseudonymKey:
    """The key in `path`; PseudonymKeyError when it is missing or not a key file."""
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise PseudonymKeyError(f"pseudonym key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PseudonymKeyError(f"pseudonym key file {path} is unreadable ({error})") from None
    parsed: list[bytes] = []
    for line in lines:
        try:
            parsed.append(bytes.fromhex(line))
        except ValueError:
            raise PseudonymKeyError(f"pseudonym key file {path} does not hold a hex key") from None
        if len(parsed[-1]) < 16:
            raise PseudonymKeyError(f"pseudonym key file {path} holds fewer than 16 bytes")
    if not parsed:
        raise PseudonymKeyError(f"pseudonym key file {path} does not hold a hex key")
    return PseudonymKey(parsed[0], tuple(parsed[1:]))


def write_key(path: Path, key: PseudonymKey, *, replace: bool) -> None:
    """Write `key` to `path` (mode 0600) through a temp file, fsync, then rename or link.

    `replace=False` refuses to overwrite an existing file (a key is never lost to a new one).
    A full disk or a folder without write permission raises OSError and leaves no key file and no
    temp file behind, never a partial key that would break every later load.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.writing-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = key.text().encode()
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # fails if `path` exists, unlike a rename
            except FileExistsError:
                raise PseudonymKeyError(f"pseudonym key file {path} already exists") from None
    finally:
        temp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
    try:
        write_key(path, new_key(), replace=False)
    except PseudonymKeyError:
        pass  # another process created it first; read theirs
    except OSError as error:
        raise PseudonymKeyError(
            f"cannot create pseudonym key file {path}: {_why(error)}; nothing was written"
        ) from None


def _param_suffix(layer: int) -> str:
    return "" if layer == 0 else f"_{layer}"


def hmac_layer_sql(kind: Kind, expr: str, layer: int) -> str:
    """SQL for one secret's pseudonym of the text `expr`: binds `$hmac_ipad[_n]`, `$hmac_opad[_n]`.

    HMAC = H((K ^ opad) || H((K ^ ipad) || m)), RFC 2104; DuckDB's sha256 hashes blobs and
    returns hex.
    """
    suffix = _param_suffix(layer)
    message = f"encode('{kind}:' || {expr})"
    inner = f"unhex(sha256($hmac_ipad{suffix} || {message}))"
    return f"('{PREFIX[kind]}' || left(sha256($hmac_opad{suffix} || {inner}), {HEX_CHARS}))"


def pseudonym_sql(kind: Kind, expr: str, *, layers: int = 1) -> str:
    """SQL for the pseudonym of the text expression `expr` (NULL stays NULL), through `layers`
    secrets (see `key_params`, `key_layers`)."""
    for layer in range(layers):
        expr = hmac_layer_sql(kind, expr, layer)
    return expr


def key_params(key: PseudonymKey) -> dict[str, bytes]:
    params: dict[str, bytes] = {}
    for layer, secret in enumerate(key.secrets):
        ipad, opad = _pads(secret)
        params[f"hmac_ipad{_param_suffix(layer)}"] = ipad
        params[f"hmac_opad{_param_suffix(layer)}"] = opad
    return params


def key_layers(params: dict[str, object]) -> int:
    """How many secrets the parameters from `key_params` hold."""
    return sum(1 for name in params if name.startswith("hmac_ipad"))
