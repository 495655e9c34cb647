"""Sign-in, roles and the audit trail inside the app (the policy itself is signalboard.access).

Every check here runs on the server, in the script run of the session that asks: the navigation
registers only the pages a role may open (another page's address renders a refusal, never the
page), and pages, downloads and the SQL sandbox check the role again before returning data.
Sign-in is Streamlit's own OpenID Connect flow (`st.login`, `st.user`, `st.logout`), configured
from the `[auth]` section that `signalboard serve` hands to Streamlit as its secrets file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.escape import markdown_text
from signalboard.access import (
    AUDIT_COLUMNS,
    AUDIT_PAGE,
    AccessConfig,
    Action,
    Capability,
    ConfigError,
    Role,
    audit_path,
    capabilities_for,
    is_loopback,
    load_config,
    pages_for,
    read_audit,
    roles_for,
)
from signalboard.access import append_audit as _append
from signalboard.settings import Settings, get_settings

LOCAL_WHO = "local user"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Viewer:
    """The person behind this browser session, as far as the server knows."""

    who: str
    roles: frozenset[Role]
    pages: frozenset[str]
    capabilities: frozenset[Capability]
    local: bool = False
    signed_in: bool = False

    @property
    def role_text(self) -> str:
        return ", ".join(sorted(self.roles))


def _config() -> AccessConfig:
    try:
        return load_config(get_settings().config_path)
    except ConfigError as error:
        st.error(f"signalboard cannot start: {markdown_text(error)}")
        st.stop()
        raise  # unreachable: st.stop() ends the script run


def _user_claim(name: str) -> Any:
    try:
        return st.user.get(name)
    except Exception:  # st.user outside a served session (bare script runs) has no claims
        return None


def current_viewer() -> Viewer:
    """Who is asking, with their roles, pages and capabilities (recomputed on every run)."""
    config = _config()
    settings = get_settings()
    if config.local:
        # Local single-user mode trusts whoever reaches the server, so it answers only this
        # machine: Streamlit reports no address for loopback clients (st.context.ip_address),
        # and a test harness's session has no network address (not a str) at all.
        address = st.context.ip_address
        if isinstance(address, str) and not is_loopback(address):
            st.error(
                "This signalboard runs in local single-user mode and only answers on this "
                "computer. Ask its owner to configure sign-in (docs/deploying.md)."
            )
            st.stop()
        roles: frozenset[Role] = frozenset({"admin"})
        viewer = Viewer(
            LOCAL_WHO,
            roles,
            pages_for(roles),
            capabilities_for(roles, sql_allow_demographics=settings.sql_allow_demographics),
            local=True,
            signed_in=True,
        )
    elif not st.user.is_logged_in:
        viewer = Viewer(ANONYMOUS, frozenset(), frozenset(), frozenset())
    else:
        email = _user_claim("email")
        groups = _user_claim("groups")
        roles = roles_for(
            config,
            email=email if isinstance(email, str) else None,
            email_verified=_user_claim("email_verified"),
            groups=groups if isinstance(groups, list) else (),
        )
        viewer = Viewer(
            str(email or _user_claim("sub") or "unknown"),
            roles,
            pages_for(roles),
            capabilities_for(roles, sql_allow_demographics=settings.sql_allow_demographics),
            signed_in=True,
        )
        if not st.session_state.get("_audit_signed_in"):
            st.session_state["_audit_signed_in"] = True
            _log(viewer, "sign_in", "sign-in", {"issued_at": _user_claim("iat")})
    st.session_state["_viewer"] = viewer
    return viewer


def viewer() -> Viewer:
    """The viewer of this run: the entry point works it out first on every run (a role taken
    away in the config applies on the next click); a callback sees the one who clicked."""
    found = st.session_state.get("_viewer")
    return found if isinstance(found, Viewer) else current_viewer()


def _session_token() -> str:
    if "_audit_session" not in st.session_state:
        st.session_state["_audit_session"] = secrets.token_hex(8)
    return str(st.session_state["_audit_session"])


def _log(who: Viewer, action: Action, what: str, params: Mapping[str, Any] | None = None) -> None:
    _append(
        audit_path(get_settings().db_path),
        who=who.who,
        role=who.role_text,
        action=action,
        what=what,
        params=params,
        session=_session_token(),
    )


def audit(action: Action, what: str, params: Mapping[str, Any] | None = None) -> None:
    """Append an entry for the current viewer to the audit trail."""
    _log(viewer(), action, what, params)


def can(capability: Capability) -> bool:
    """True when the current viewer has this capability."""
    return capability in viewer().capabilities


def require(capability: Capability, what: str) -> None:
    """Stop the script run with a refusal (and an audit entry) unless the viewer may do this."""
    if can(capability):
        return
    audit("denied", what, {"needs": capability})
    st.error(f"Your role does not allow this: {what}.")
    st.stop()


def sql_settings(settings: Settings) -> Settings:
    """The SQL sandbox's settings for this viewer: row-level demographics only for admins, and
    only when SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS allows it."""
    return replace(settings, sql_allow_demographics=can("sql_demographics"))


def download_button(label: str, data: Any, file_name: str, **kwargs: Any) -> None:
    """`st.download_button` that writes an audit entry when the file is downloaded."""
    page = st.session_state.get("_audit_page", "")
    st.download_button(
        label,
        data=data,
        file_name=file_name,
        on_click=audit,
        args=("download", file_name, {"page": page}),
        **kwargs,
    )


# --- pages and navigation -------------------------------------------------------------------


def _sign_in_page() -> None:
    st.title("signalboard")
    st.write("Sign in to see hiring analytics. Your organisation's administrator grants roles.")
    if st.button("Sign in", type="primary", key="auth_sign_in"):
        st.login()


def _no_access_page() -> None:
    who = viewer()
    st.title("No access")
    # The address comes from the identity provider: shown as text, never as markdown.
    st.text(f"Signed in as {who.who}.")
    st.write("Your account has no role in signalboard. Ask its administrator for one.")
    if st.button("Sign out", key="auth_sign_out_main"):
        _sign_out()


def _refusal(url_path: str, title: str) -> Callable[[], None]:
    def page() -> None:
        who = viewer()
        audit("denied", f"page {url_path}", {"page": url_path, "title": title})
        if not who.signed_in:
            _sign_in_page()
            return
        st.title("No access")
        st.write(f"Your role does not open the {title} page.")

    return page


def audit_trail_page() -> None:
    """The admin-only view of the audit trail, newest first, with a download of all of it."""
    require("audit", "the audit trail")
    st.title("Audit trail")
    path = audit_path(get_settings().db_path)
    st.caption(
        "Every sign-in, page view, download, query, SQL statement and refused access, newest "
        f"first. The trail is the append-only file `{path.name}` beside the warehouse."
    )
    entries = read_audit(path)
    frame = pd.DataFrame(entries, columns=list(AUDIT_COLUMNS))
    frame["params"] = frame["params"].map(lambda p: json.dumps(p, ensure_ascii=False, default=str))
    frame = frame.iloc[::-1].reset_index(drop=True)
    actions = sorted(frame["action"].dropna().unique())
    chosen = st.multiselect("Actions", actions, key="audit_actions")
    shown = frame.loc[frame["action"].isin(chosen)] if chosen else frame
    st.dataframe(shown.head(5000), hide_index=True, width="stretch")
    download_button(
        "Download audit_trail.csv",
        data=frame.to_csv(index=False).encode("utf-8"),
        file_name="audit_trail.csv",
        mime="text/csv",
        key="download_audit_trail",
    )


def navigation(page_specs: Iterable[Any], *, pages_dir: Any = None) -> Any:
    """`st.navigation` over the pages this viewer may open; every other page's address is
    registered hidden, as a refusal that writes an audit entry, so it never runs the page."""
    who = viewer()
    specs = list(page_specs)
    pages: list[Any] = []
    if not who.signed_in:
        pages.append(st.Page(_sign_in_page, title="Sign in", url_path="sign_in", default=True))
    elif not who.roles:
        pages.append(
            st.Page(_no_access_page, title="No access", url_path="no_access", default=True)
        )
    allowed = [s for s in specs if s.url_path in who.pages]
    for index, spec in enumerate(allowed):
        pages.append(
            st.Page(
                str(spec.path),
                title=spec.title,
                icon=spec.icon,
                url_path=spec.url_path,
                default=index == 0,
            )
        )
    if AUDIT_PAGE in who.pages:
        pages.append(
            st.Page(
                audit_trail_page,
                title="Audit trail",
                icon=":material/history:",
                url_path=AUDIT_PAGE,
            )
        )
    refused = [(s.url_path, s.title) for s in specs if s.url_path not in who.pages]
    if AUDIT_PAGE not in who.pages:
        refused.append((AUDIT_PAGE, "Audit trail"))
    for url_path, title in refused:
        pages.append(
            st.Page(_refusal(url_path, title), title=title, url_path=url_path, visibility="hidden")
        )
    page = st.navigation(pages, position="sidebar" if who.roles else "hidden")
    url_path = page.url_path or (allowed[0].url_path if allowed else "")
    st.session_state["_audit_page"] = url_path
    if who.roles and url_path in who.pages:
        audit("page_view", f"page {url_path}", {"page": url_path, **_filter_params()})
    return page


def _filter_params() -> dict[str, Any]:
    # The shareable filter state of the address (?from=&to=&roles=&cohorts=), as the page sees it.
    return {
        k: st.query_params[k] for k in ("from", "to", "roles", "cohorts") if k in st.query_params
    }


def _sign_out() -> None:
    audit("sign_out", "sign-out")
    st.logout()


def account_sidebar() -> None:
    """Who is signed in and a one-click sign-out; in local mode, a banner saying so."""
    who = viewer()
    if who.local:
        st.info(
            "Local single-user mode: no sign-in, you are admin, and this server answers only "
            "on this computer (127.0.0.1). To share it, configure sign-in: docs/deploying.md.",
            icon=":material/lock:",
        )
        return
    if not who.signed_in:
        return
    with st.sidebar:
        st.text(f"Signed in as {who.who}\n({who.role_text or 'no role'})")
        if st.button("Sign out", key="auth_sign_out"):
            _sign_out()
