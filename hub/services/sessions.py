"""Console sign-in: passwords checked, server-side sessions made, found, ended; guessing slowed.

A session's cookie carries a random token; the store keeps only its sha256 (``console_sessions.id``),
so a copy of the database cannot be used to sign in. A session is valid while it has not ended,
has been used within the idle limit, is younger than its absolute limit, and its user is active:
deactivating a user ends their sessions at once, with no list of sessions to clean up.

Failed sign-ins are recorded (``login_failures``) and counted per user name and per address; past
the limit, ``sign_in`` refuses before it looks at the password (``Throttled``, HTTP 429) and writes
one audit row. The same refusal (``Unauthenticated``, one message) answers an unknown name and a
wrong password, after the same argon2 work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from hub import accounts
from hub.auth import Principal
from hub.clock import utcnow
from hub.errors import HubError, Invalid, Unauthenticated
from hub.models import AuditEvent, ConsoleSession, LoginFailure, User
from hub.services import Service, Transaction

#: How much of a user agent string a session keeps.
UA_MAX = 300
#: last_seen_at is written at most this often (a page view is a read, not a write, most of the time).
TOUCH_EVERY = timedelta(seconds=60)


class Throttled(HubError):
    """Too many failed sign-ins for this name or address; try again after ``retry_after`` seconds."""

    status_code = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class WrongPassword(Invalid):
    """The current password given to change it is not the user's (422)."""


@dataclass(frozen=True)
class Limits:
    """The console's session and throttling limits (the console plugin's settings)."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=15)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_handle(sid: str) -> str:
    """What names a session in its owner's forms: derived from its id, and no use for signing in
    or for finding the row without the id."""
    return hashlib.sha256(b"handle:" + sid.encode()).hexdigest()[:32]


def session_csrf(token: str) -> str:
    """The CSRF token of a session's forms and scripts: ``HMAC(session token, "console")``. Tied
    to the session, and the store (which keeps only the token's sha256) cannot produce it."""
    return hmac.new(token.encode(), b"console", hashlib.sha256).hexdigest()


class SessionService(Service):
    def sign_in(self, username: str, password: str, *, ip: str | None, user_agent: str | None,
                limits: Limits = Limits()) -> tuple[str, Principal]:
        """A new session for a right name and password: its token (for the cookie) and who it is.

        ``Throttled`` past the failure limit (nothing else checked); ``Unauthenticated`` for a wrong
        pair, whichever part was wrong."""
        username = (username or "").strip()[:200]
        ip = (ip or None) and ip[:64]
        now = utcnow()
        with self.transaction() as t:
            retry = self._retry_after(t, username, ip, now, limits)
            if retry is not None:
                t.session.add(AuditEvent(actor=None, action="login_throttled", object_type="login",
                                         object_id=username[:64] or "-", detail={"ip": ip, "retry_after_s": retry}))
        if retry is not None:
            raise Throttled("too many failed sign-ins; try again later", retry)
        with self.reading() as session:
            user = session.scalar(select(User).where(User.name == username)) if username else None
            found = (user.id, user.name, user.role, user.commune, user.active, user.password_hash) if user else None
        ok = accounts.verify_password(found[5] if found else None, password or "")
        if not ok or not found or not found[4]:
            with self.transaction() as t:
                t.session.add(LoginFailure(at=now, username=username, ip=ip))
            raise Unauthenticated("wrong user name or password")
        token = secrets.token_urlsafe(32)
        with self.transaction() as t:
            t.session.add(ConsoleSession(id=session_id(token), user_id=found[0], created_at=now, last_seen_at=now,
                                         expires_at=now + limits.absolute, ip=ip,
                                         idle_s=int(limits.idle.total_seconds()),
                                         user_agent=(user_agent or "")[:UA_MAX] or None))
            # A right pair forgives the name's failures (the address keeps its own).
            t.session.execute(delete(LoginFailure).where(LoginFailure.username == username))
            t.session.add(AuditEvent(actor=found[0], action="login", object_type="user", object_id=found[0],
                                     detail={"ip": ip}))
        return token, Principal(found[0], found[1], found[2], found[3])

    def _retry_after(self, t: Transaction, username: str, ip: str | None, now: datetime,
                     limits: Limits) -> int | None:
        since = now - limits.failure_window
        worst = None
        for column, value in ((LoginFailure.username, username), (LoginFailure.ip, ip)):
            if value is None:
                continue
            times = list(t.session.scalars(select(LoginFailure.at).where(column == value, LoginFailure.at > since)
                                           .order_by(LoginFailure.at)))
            if len(times) >= limits.max_failures:
                # Free again once enough of these failures have left the window.
                frees_at = times[len(times) - limits.max_failures] + limits.failure_window
                seconds = max(1, int((frees_at - now).total_seconds()) + 1)
                worst = max(worst or 0, seconds)
        return worst

    def principal(self, token: str | None, *, limits: Limits | None = None) -> Principal | None:
        """Who a session token belongs to, if the session is valid now; refreshes its idle time.

        The idle limit is the one the session was made with (else ``limits``', else the default)."""
        if not token or len(token) > 200:
            return None
        now = utcnow()
        sid = session_id(token)
        with self.reading() as session:
            row = session.execute(
                select(ConsoleSession.last_seen_at, ConsoleSession.idle_s, User.id, User.name, User.role,
                       User.commune)
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.id == sid, ConsoleSession.ended_at.is_(None), ConsoleSession.expires_at > now,
                       User.active)).first()
        idle = timedelta(seconds=row.idle_s) if row is not None and row.idle_s else (limits or Limits()).idle
        if row is None or row.last_seen_at <= now - idle:
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            with self.transaction() as t:
                record = t.session.get(ConsoleSession, sid)
                if record is not None:
                    record.last_seen_at = now
        return Principal(row.id, row.name, row.role, row.commune)

    def sign_out(self, token: str | None) -> bool:
        """End the session on the server; whether there was one to end."""
        if not token:
            return False
        with self.transaction() as t:
            record = t.session.get(ConsoleSession, session_id(token))
            if record is None or record.ended_at is not None:
                return False
            record.ended_at = utcnow()
            t.session.add(AuditEvent(actor=record.user_id, action="logout", object_type="user",
                                     object_id=record.user_id))
            return True

    def end_user_sessions(self, user_id: str, *, tx: Transaction | None = None) -> int:
        """End every open session of a user (a new password, a deactivation); how many ended."""
        now = utcnow()
        with self.transaction(tx) as t:
            rows = list(t.session.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                                       ConsoleSession.ended_at.is_(None))))
            for row in rows:
                row.ended_at = now
            return len(rows)

    def open_sessions(self, user_id: str) -> list[dict[str, Any]]:
        """The user's sessions that have not ended (for the console and for tests)."""
        with self.reading() as session:
            rows = session.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                                ConsoleSession.ended_at.is_(None))
                                   .order_by(ConsoleSession.created_at))
            return [{"created_at": r.created_at, "last_seen_at": r.last_seen_at, "expires_at": r.expires_at,
                     "ip": r.ip, "user_agent": r.user_agent} for r in rows]

    # --- one's own account (the console's /console/account) ---------------------------------------

    def live_sessions(self, token: str) -> list[dict[str, Any]]:
        """The signed-in user's sessions that are still valid now, newest first, each with a
        ``handle`` (names it in a form without giving away its id) and ``current`` (this one)."""
        user = self.principal(token)
        if user is None:
            raise Unauthenticated("sign in again")
        now = utcnow()
        mine = session_id(token)
        with self.reading() as session:
            rows = list(session.scalars(select(ConsoleSession).where(
                ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None),
                ConsoleSession.expires_at > now).order_by(ConsoleSession.last_seen_at.desc())))
        live = [r for r in rows if r.id == mine or r.last_seen_at > now - timedelta(seconds=r.idle_s or
                                                                                    Limits().idle.total_seconds())]
        return [{"handle": session_handle(r.id), "current": r.id == mine, "created_at": r.created_at,
                 "last_seen_at": r.last_seen_at, "expires_at": r.expires_at, "ip": r.ip,
                 "user_agent": r.user_agent} for r in live]

    def end_own_sessions(self, token: str, handle: str | None = None) -> int:
        """End the signed-in user's other sessions (or, given ``handle``, that one of them; never
        the session asking, which signs out instead); how many ended. Audited (``end_sessions``)."""
        user = self.principal(token)
        if user is None:
            raise Unauthenticated("sign in again")
        mine = session_id(token)
        now = utcnow()
        with self.transaction() as t:
            rows = [r for r in t.session.scalars(select(ConsoleSession).where(
                ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None)))
                if r.id != mine and (handle is None or hmac.compare_digest(session_handle(r.id), handle))]
            for row in rows:
                row.ended_at = now
            if rows:
                t.session.add(AuditEvent(actor=user.id, action="end_sessions", object_type="user", object_id=user.id,
                                         detail={"sessions_ended": len(rows)}))
            return len(rows)

    def change_password(self, token: str, current: str, new: str, *, limits: Limits = Limits()) -> dict[str, Any]:
        """The signed-in user's new password, given the current one. Their other sessions end; this
        one stays. A wrong current password is ``Invalid`` (422) and counts as a failed sign-in for
        the name, so a left-open session cannot be used to guess it (past the limit: ``Throttled``)."""
        user = self.principal(token, limits=limits)
        if user is None:
            raise Unauthenticated("sign in again")
        now = utcnow()
        with self.transaction() as t:
            retry = self._retry_after(t, user.name, None, now, limits)
        if retry is not None:
            raise Throttled("too many wrong passwords; try again later", retry)
        with self.reading() as session:
            expected = session.scalar(select(User.password_hash).where(User.id == user.id))
        if not accounts.verify_password(expected, current or ""):
            with self.transaction() as t:
                t.session.add(LoginFailure(at=now, username=user.name, ip=None))
            raise WrongPassword("the current password is wrong")
        with self.transaction() as t:
            return accounts.change_own_password(t.session, user.id, expected, new, keep_session=session_id(token))

    def forget_old_failures(self, *, older_than: timedelta = timedelta(days=1)) -> int:
        """Remove failure records no window counts any more."""
        with self.transaction() as t:
            result = t.session.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - older_than))
            return result.rowcount or 0


__all__ = ["Limits", "SessionService", "Throttled", "session_id"]
