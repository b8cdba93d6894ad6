"""People, their tokens and their browser sessions, on the volume under ``workspace/.auteur/auth/``.

Written by the API (``api.auth``, ``api.accounts``) and the command line
(``auteur user add``, ``auteur token create``); read by every API replica. Two files,
each written whole and atomically under one lock (``auth/.lock``):

* ``accounts.json``: users (role, email, argon2 hash of the password) and tokens
  (the user a token acts as, its role, argon2 hash of its secret);
* ``sessions.json``: signed-in browsers (SHA-256 of the session id: it is 256 random
  bits, so a fast hash is as safe as a slow one), each with its CSRF token and expiry.

Readers stat the files on every call and re-read them only when they changed, so a
token revoked on one replica stops working on every replica at its next request.
A presented token is verified with argon2 once; afterwards the SHA-256 of it maps to
the verified record in memory, checked against the current file on each use (no
password hash runs per request).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auteur.atomic import write_atomic
from auteur.identity import Actor, Role
from auteur.locks import hold_lock
from auteur.names import InvalidName, check_name

AUTH_DIR = "auth"
TOKEN_PREFIX = "aut_"
SESSION_SECONDS = 12 * 3600.0

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class User(msgspec.Struct, kw_only=True):
    role: Role
    email: str | None = None
    password: str | None = None  # argon2 hash; None: the user signs in with tokens only
    created: float = 0.0


class Token(msgspec.Struct, kw_only=True):
    id: str  # the public part, the first of the token after the prefix
    role: Role
    hash: str  # argon2 hash of the secret part
    created: float = 0.0
    created_by: str | None = None


class Accounts(msgspec.Struct, kw_only=True):
    users: dict[str, User] = msgspec.field(default_factory=dict)
    tokens: dict[str, Token] = msgspec.field(default_factory=dict)  # by name: the user it acts as


class Session(msgspec.Struct, kw_only=True):
    user: str
    csrf: str
    expires: float


class Sessions(msgspec.Struct, kw_only=True):
    sessions: dict[str, Session] = msgspec.field(default_factory=dict)  # by SHA-256 of the session id


class TokenInfo(msgspec.Struct, kw_only=True):
    """What ``GET /api/v1/tokens`` tells of a token: never its secret nor its hash."""

    name: str
    role: Role
    created: float
    created_by: str | None = None


S = TypeVar("S", Accounts, Sessions)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_user_name(name: str) -> str:
    """A user (or token) name: the project-name rules (printable, at most 200 bytes)."""
    try:
        return check_name(name)
    except InvalidName as exc:
        raise AccountError(f"invalid name: {exc}") from None


class _Cached(Generic[S]):
    """One JSON file, re-read only when its inode, size or mtime changed."""

    def __init__(self, path: Path, kind: type[S]) -> None:
        self.path = path
        self.kind: type[S] = kind
        self._stamp: tuple[int, int, int] | None = None
        self._value: S = kind()

    def read(self) -> S:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._value = None, self.kind()
            return self._value
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            self._value = msgspec.json.decode(self.path.read_bytes(), type=self.kind)
            self._stamp = stamp
        return self._value


class AccountStore:
    """The accounts and sessions of one workspace; safe to share between threads."""

    def __init__(self, state_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.dir = state_dir / AUTH_DIR
        self.clock = clock
        self._accounts = _Cached(self.dir / "accounts.json", Accounts)
        self._sessions = _Cached(self.dir / "sessions.json", Sessions)
        self._verified: dict[str, tuple[str, str]] = {}  # sha256(token) -> (name, argon2 hash it matched)
        self._mutex = threading.Lock()

    # -- reading ---------------------------------------------------------------------

    def accounts(self) -> Accounts:
        with self._mutex:
            return self._accounts.read()

    def _sessions_now(self) -> Sessions:
        with self._mutex:
            return self._sessions.read()

    def actor_for_token(self, token: str) -> Actor | None:
        """The actor a bearer token stands for, or None (unknown, revoked, malformed)."""
        digest = _sha256(token)
        accounts = self.accounts()
        known = self._verified.get(digest)
        if known is not None:
            name, matched = known
            record = accounts.tokens.get(name)
            if record is not None and record.hash == matched:
                return self._actor(accounts, name, record.role)
            self._verified.pop(digest, None)  # revoked or replaced
        name_and_secret = _split_token(token)
        if name_and_secret is None:
            return None
        token_id, secret = name_and_secret
        for name, record in accounts.tokens.items():
            if hmac.compare_digest(record.id, token_id):
                if not _verify(record.hash, secret):
                    return None
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[digest] = (name, record.hash)
                return self._actor(accounts, name, record.role)
        return None

    def actor_for_session(self, session_id: str) -> tuple[Actor, Session] | None:
        """The signed-in user of a session cookie, with the session (for its CSRF token)."""
        session = self._sessions_now().sessions.get(_sha256(session_id))
        if session is None or session.expires <= self.clock():
            return None
        accounts = self.accounts()
        user = accounts.users.get(session.user)
        if user is None:
            return None
        return Actor(name=session.user, role=user.role, email=user.email), session

    def actor_for_user(self, name: str) -> Actor | None:
        user = self.accounts().users.get(name)
        return None if user is None else Actor(name=name, role=user.role, email=user.email)

    def check_password(self, name: str, password: str) -> Actor | None:
        """The user, if the password is theirs (argon2: slow by design; for sign-in only)."""
        user = self.accounts().users.get(name)
        if user is None or user.password is None:
            _verify(_dummy_hash(), password)  # the same time for a name that does not exist
            return None
        if not _verify(user.password, password):
            return None
        return Actor(name=name, role=user.role, email=user.email)

    def tokens(self) -> list[TokenInfo]:
        return [_info(name, record) for name, record in sorted(self.accounts().tokens.items())]

    def token(self, name: str) -> TokenInfo | None:
        record = self.accounts().tokens.get(name)
        return None if record is None else _info(name, record)

    @staticmethod
    def _actor(accounts: Accounts, name: str, role: Role) -> Actor:
        user = accounts.users.get(name)
        return Actor(name=name, role=role, email=user.email if user else None)

    # -- writing ---------------------------------------------------------------------

    def _change(self, path: Path, kind: type[S], change: Callable[[S], None]) -> None:
        with hold_lock(self.dir / ".lock"):
            try:
                value = msgspec.json.decode(path.read_bytes(), type=kind)
            except FileNotFoundError:
                value = kind()
            change(value)
            write_atomic(path, msgspec.json.format(msgspec.json.encode(value)), mode=0o600)

    def add_user(self, name: str, role: Role, *, email: str | None = None, password: str | None = None,
                 replace: bool = False) -> Actor:  # fmt: skip
        """Add (or with ``replace``, change) a user; the password is stored as its argon2 hash."""
        name = check_user_name(name)
        if password is not None and len(password) < 8:
            raise AccountError("the password must have at least 8 characters")
        hashed = _hasher.hash(password) if password is not None else None

        def change(accounts: Accounts) -> None:
            if name in accounts.users and not replace:
                raise AccountError(f"user {name!r} exists")
            accounts.users[name] = User(role=role, email=email, password=hashed, created=self.clock())

        self._change(self._accounts.path, Accounts, change)
        return Actor(name=name, role=role, email=email)

    def remove_user(self, name: str) -> None:
        def change(accounts: Accounts) -> None:
            if accounts.users.pop(name, None) is None:
                raise AccountError(f"no user {name!r}")
            accounts.tokens.pop(name, None)

        self._change(self._accounts.path, Accounts, change)
        self._change(self._sessions.path, Sessions, lambda s: _drop_sessions(s, name))

    def create_token(self, name: str, role: Role, *, created_by: str | None = None) -> str:
        """A new token for ``name``; the only time its secret exists outside the caller."""
        name = check_user_name(name)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        record = Token(id=token_id, role=role, hash=_hasher.hash(secret), created=self.clock(), created_by=created_by)

        def change(accounts: Accounts) -> None:
            if name in accounts.tokens:
                raise AccountError(f"a token named {name!r} exists; revoke it first")
            accounts.tokens[name] = record

        self._change(self._accounts.path, Accounts, change)
        return f"{TOKEN_PREFIX}{token_id}.{secret}"

    def revoke_token(self, name: str) -> bool:
        found = []

        def change(accounts: Accounts) -> None:
            found.append(accounts.tokens.pop(name, None) is not None)

        self._change(self._accounts.path, Accounts, change)
        return found[0]

    def open_session(self, user: str) -> tuple[str, Session]:
        """A new session for a user who just signed in: (the session id for the cookie, the session)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(user=user, csrf=secrets.token_urlsafe(24), expires=now + SESSION_SECONDS)

        def change(sessions: Sessions) -> None:
            for key in [k for k, s in sessions.sessions.items() if s.expires <= now]:
                del sessions.sessions[key]
            sessions.sessions[_sha256(session_id)] = session

        self._change(self._sessions.path, Sessions, change)
        return session_id, session

    def close_session(self, session_id: str) -> None:
        def change(sessions: Sessions) -> None:
            sessions.sessions.pop(_sha256(session_id), None)

        self._change(self._sessions.path, Sessions, change)


def _drop_sessions(sessions: Sessions, user: str) -> None:
    for key in [k for k, s in sessions.sessions.items() if s.user == user]:
        del sessions.sessions[key]


def _split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, dot, secret = token[len(TOKEN_PREFIX) :].partition(".")
    if not dot or len(token_id) != 12 or not secret or len(token) > 200:
        return None
    return token_id, secret


def _verify(hashed: str, secret: str) -> bool:
    try:
        return _hasher.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def _info(name: str, record: Token) -> TokenInfo:
    return TokenInfo(name=name, role=record.role, created=record.created, created_by=record.created_by)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
