"""Who acts: the people (and tokens) behind a request, their roles, and the git author they become.

The API's auth layer (``api.auth``) turns a credential into an :class:`Actor`; the API
hands it on with what it asks the controller and the worker to do (an upload record, a
mailbox request, an attribution record), and they commit as :meth:`Actor.author`. With
auth off there is no actor, and everything is committed as the default identity
(``AUTEUR_GIT_AUTHOR``), as are spec files and media dropped by hand.
"""

from __future__ import annotations

import enum

import msgspec

DEFAULT_AUTHOR = "Auteur <auteur@localhost>"


class Role(str, enum.Enum):
    """What a person may do; each role may do everything the roles before it may."""

    VIEWER = "viewer"  # list, read, download, events, posters
    EDITOR = "editor"  # + create, upload, edit, delete to the trash, restore
    ADMIN = "admin"  # + purge, users and tokens, the audit log

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in person (or a token acting as the user it names)."""

    name: str
    role: Role
    email: str | None = None

    def author(self, email_domain: str) -> bytes:
        """The git identity: ``name <email>``, the email made up as ``name@domain`` when the user has none."""
        return author_line(self.name, self.email or f"{_local_part(self.name)}@{email_domain}")


def author_line(name: str, email: str) -> bytes:
    """``name <email>`` as git writes it; the characters git refuses in either are dropped."""
    return f"{_clean(name)} <{_clean(email).replace('<', '').replace('>', '')}>".encode()


def parse_author(value: str) -> bytes:
    """A configured identity (``Name <email>``), refused with a clear message when it is not one."""
    name, sep, rest = value.partition("<")
    if not sep or not rest.endswith(">") or not name.strip() or not rest[:-1].strip():
        raise ValueError(f"{value!r} is not a git identity of the form 'Name <email>'")
    return author_line(name.strip(), rest[:-1].strip())


def _clean(text: str) -> str:
    return " ".join(text.replace("\n", " ").replace("\0", " ").split())


def _local_part(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower()).strip("-.") or "user"
