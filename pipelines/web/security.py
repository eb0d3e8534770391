"""Sessions, CSRF tokens and cookie settings of the web app.

Credentials never leave the server: a session is a random id (``secrets.token_urlsafe``) in an
HttpOnly, SameSite=Strict cookie, mapped in memory to the bureau and its S3 keys. Every form
carries the session's CSRF token; a POST without it, or with another one, is refused."""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

SESSION_COOKIE = "shuzhong_session"
SESSION_TTL_S = 8 * 3600
MAX_SESSIONS = 10_000


def secure_cookies() -> bool:
    """``SHUZHONG_WEB_SECURE_COOKIES=1`` behind https: cookies get the Secure flag."""
    return os.environ.get("SHUZHONG_WEB_SECURE_COOKIES", "0").lower() in ("1", "true", "yes")


@dataclass
class Session:
    """One browser's session: a CSRF token, and once signed in the bureau and its S3 keys."""

    sid: str
    csrf: str
    created: float = field(default_factory=time.monotonic)
    bureau: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    @property
    def signed_in(self) -> bool:
        return self.bureau is not None


class SessionStore:
    """In-memory sessions keyed by random ids (one process; a restart signs everyone out)."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self._ttl = ttl_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self) -> Session:
        with self._lock:
            self._expire()
            session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
            self._sessions[session.sid] = session
            return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session and time.monotonic() - session.created > self._ttl:
                del self._sessions[sid]
                return None
            return session

    def sign_in(self, old: Session, bureau: str, access_key: str, secret_key: str) -> Session:
        """A new session id for the signed-in clerk (the pre-login id is dropped: no fixation)."""
        self.drop(old.sid)
        session = self.new()
        session.bureau, session.access_key, session.secret_key = bureau, access_key, secret_key
        return session

    def drop(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.created > self._ttl]:
            del self._sessions[sid]
        while len(self._sessions) >= MAX_SESSIONS:  # oldest first
            self._sessions.pop(next(iter(self._sessions)))


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token) and hmac.compare_digest(session.csrf, token)


def cookie_kwargs() -> dict:
    return {"httponly": True, "samesite": "strict", "secure": secure_cookies(), "path": "/"}
