"""Who may see what: the sign-in config, the role policy and the audit trail.

Pure logic, no Streamlit: `dashboard/auth.py` applies it to the app and `signalboard serve`
validates the config with it before starting the server.

- The **config** is a TOML file (`signalboard serve --config FILE` or SIGNALBOARD_CONFIG) with an
  `[auth]` section in the layout Streamlit's `st.login` reads (server_metadata_url, client_id,
  client_secret, cookie_secret, redirect_uri) and a `[roles]` section mapping each role to a list of
  e-mail addresses or identity-provider groups. Without `[auth]` the app runs in local
  single-user mode: one person, on 127.0.0.1, as admin.
- The **policy** is deny by default: a role opens only the pages and capabilities listed for it
  in ROLE_PAGES and ROLE_CAPABILITIES; a user with no role opens nothing.
- The **audit trail** is a JSON Lines file beside the warehouse (`<warehouse>.audit.jsonl`): one
  line per sign-in, page view, download, query, SQL statement and refused access, appended and
  never rewritten. A load swaps the warehouse file by rename and never touches its neighbours,
  so the trail outlives every load.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

Role = Literal["talent_lead", "dei_reviewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

Capability = Literal[
    "demographics",  # demographic breakdowns and pages built on self-ID data
    "sql",  # the SQL page: library queries and ad-hoc statements
    "sql_demographics",  # ad-hoc SQL over the row-level demographics tables (setting permitting)
    "audit",  # the audit trail page and its download
]

Action = Literal["sign_in", "sign_out", "page_view", "download", "library_query", "sql", "denied"]

AUDIT_PAGE = "audit"
"""URL path of the admin-only audit trail page (it has no file among the analysis pages)."""

_BASE_PAGES = frozenset({"funnel", "time_to_hire", "data_health"})
_DEMOGRAPHIC_PAGES = frozenset({"assessors", "fairness", "stipends"})

ROLE_PAGES: Mapping[Role, frozenset[str]] = {
    "talent_lead": _BASE_PAGES,
    "dei_reviewer": _BASE_PAGES | _DEMOGRAPHIC_PAGES,
    "analyst": _BASE_PAGES | {"sql"},
    "admin": _BASE_PAGES | _DEMOGRAPHIC_PAGES | {"sql", AUDIT_PAGE},
}
"""Pages (URL paths, the page file's stem) each role may open; any other page is refused."""

ROLE_CAPABILITIES: Mapping[Role, frozenset[Capability]] = {
    "talent_lead": frozenset(),
    "dei_reviewer": frozenset({"demographics"}),
    "analyst": frozenset({"sql"}),
    "admin": frozenset({"demographics", "sql", "sql_demographics", "audit"}),
}

AUTH_KEYS = ("server_metadata_url", "client_id", "client_secret", "cookie_secret", "redirect_uri")
# Streamlit's own optional [auth] keys, passed through to it unchanged.
_OPTIONAL_AUTH_KEYS = frozenset({"client_kwargs", "expose_tokens"})
MIN_COOKIE_SECRET = 32
"""Shortest cookie_secret accepted, in characters: it signs the session cookie (HMAC-SHA256)."""


class ConfigError(ValueError):
    """The config file cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class AccessConfig:
    """The parsed config: sign-in settings (None: local single-user mode) and role members."""

    path: Path | None = None
    auth: Mapping[str, Any] | None = None
    roles: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        """True without `[auth]`: one person on this machine, who is admin."""
        return self.auth is None

    def __repr__(self) -> str:
        # Never print the secrets, even in a traceback or a debug log.
        return f"AccessConfig(path={self.path!r}, local={self.local}, roles={dict(self.roles)!r})"


LOCAL = AccessConfig()


def load_config(path: str | Path | None) -> AccessConfig:
    """Read and validate the config file; None (no file given) is local single-user mode."""
    if path is None or str(path).strip() == "":
        return LOCAL
    file = Path(path).expanduser().resolve()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {file} cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        # The decoder's message names the line and column, never the file's content.
        raise ConfigError(f"config file {file} is not valid TOML: {error}") from None
    return parse_config(data, path=file)


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> AccessConfig:
    """Validate a parsed config (see the module docstring for the layout)."""
    where = f"config file {path}" if path else "config"
    unknown = sorted(set(data) - {"auth", "roles"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) {', '.join(unknown)} (expected auth, roles)"
        )
    auth = data.get("auth")
    if auth is not None:
        if not isinstance(auth, Mapping):
            raise ConfigError(f"{where}: [auth] must be a table")
        missing = [key for key in AUTH_KEYS if not str(auth.get(key, "")).strip()]
        if missing:
            raise ConfigError(f"{where}: [auth] is missing {', '.join(missing)}")
        extra = sorted(set(auth) - set(AUTH_KEYS) - _OPTIONAL_AUTH_KEYS)
        if extra:
            raise ConfigError(f"{where}: [auth] has unknown key(s) {', '.join(extra)}")
        if len(str(auth["cookie_secret"])) < MIN_COOKIE_SECRET:
            raise ConfigError(
                f"{where}: [auth] cookie_secret must be at least {MIN_COOKIE_SECRET} characters "
                '(python -c "import secrets; print(secrets.token_hex(32))")'
            )
        if not str(auth["redirect_uri"]).rstrip("/").endswith("/oauth2callback"):
            raise ConfigError(f"{where}: [auth] redirect_uri must end with /oauth2callback")
    raw_roles = data.get("roles", {})
    if not isinstance(raw_roles, Mapping):
        raise ConfigError(f"{where}: [roles] must be a table")
    unknown_roles = sorted(set(raw_roles) - set(ROLES))
    if unknown_roles:
        raise ConfigError(
            f"{where}: unknown role(s) {', '.join(unknown_roles)} (roles: {', '.join(ROLES)})"
        )
    roles: dict[Role, tuple[str, ...]] = {}
    for role in ROLES:
        members = raw_roles.get(role, [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ConfigError(f"{where}: roles.{role} must be a list of e-mail addresses or groups")
        roles[role] = tuple(m.strip().casefold() for m in members if m.strip())
    if auth is not None and not any(roles.values()):
        raise ConfigError(f"{where}: [roles] names nobody, so no one could open anything")
    return AccessConfig(path=path, auth=dict(auth) if auth is not None else None, roles=roles)


def roles_for(
    config: AccessConfig,
    *,
    email: str | None,
    email_verified: bool | None = None,
    groups: Iterable[str] = (),
) -> frozenset[Role]:
    """The roles of a signed-in user: every role listing their e-mail or one of their groups.

    An entry with "@" is an e-mail address (compared case-insensitively); any other entry is a
    group name from the identity provider's `groups` claim. An address the provider marks as
    unverified (email_verified false) matches nothing: anyone can type an address into some
    providers' sign-up forms.
    """
    if config.local:
        return frozenset({"admin"})
    address = (email or "").strip().casefold()
    usable_email = bool(address) and email_verified is not False
    member_groups = {g.strip().casefold() for g in groups if isinstance(g, str) and g.strip()}
    found: set[Role] = set()
    for role, members in config.roles.items():
        for member in members:
            if ("@" in member and usable_email and member == address) or (
                "@" not in member and member in member_groups
            ):
                found.add(role)
    return frozenset(found)


def pages_for(roles: Iterable[Role]) -> frozenset[str]:
    """URL paths of the pages these roles may open (the union over roles)."""
    return frozenset().union(*(ROLE_PAGES[r] for r in roles))


def capabilities_for(
    roles: Iterable[Role], *, sql_allow_demographics: bool
) -> frozenset[Capability]:
    """What these roles may do; SQL over demographics also needs the setting to allow it."""
    found: set[Capability] = set().union(*(ROLE_CAPABILITIES[r] for r in roles))
    if not sql_allow_demographics:
        found.discard("sql_demographics")
    return frozenset(found)


def is_loopback(address: str | None) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if address is None:
        return False
    text = address.strip().strip("[]")
    if text.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


# --- audit trail ---------------------------------------------------------------------------


def audit_path(db_path: str | Path) -> Path:
    """The audit trail of a warehouse: `<warehouse file>.audit.jsonl` in the same folder."""
    db = Path(db_path)
    return db.with_name(db.name + ".audit.jsonl")


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a parameter value (dates as ISO text, sets and tuples as lists)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def append_audit(
    path: str | Path,
    *,
    who: str,
    action: Action,
    what: str,
    params: Mapping[str, Any] | None = None,
    role: str = "",
    session: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Append one entry (who, when, what, with the parameters) to the audit trail; return it.

    One write of one line to a file opened with O_APPEND, under an exclusive lock: concurrent
    sessions and processes never interleave within a line (POSIX O_APPEND writes go to the end
    of the file), and earlier lines are never rewritten. The file is created owner-only (0600).
    """
    entry = {
        "at": (at or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds"),
        "who": who,
        "role": role,
        "action": action,
        "what": what,
        "params": _plain(params or {}),
        "session": session,
    }
    line = (json.dumps(entry, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


AUDIT_COLUMNS = ("at", "who", "role", "action", "what", "params", "session")


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """Every entry of the audit trail, oldest first ([] when there is none yet).

    A line that is not a JSON object (a write cut short by a crash) is kept as an entry whose
    action is "unreadable", so nothing in the file is silently dropped.
    """
    target = Path(path)
    if not target.exists():
        return []
    entries: list[dict[str, Any]] = []
    with target.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            if not text.strip():
                continue
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                entry = None
            if not isinstance(entry, dict):
                entry = {"action": "unreadable", "what": f"line {number}", "params": {}}
            entries.append({key: entry.get(key, "") for key in AUDIT_COLUMNS})
    return entries
