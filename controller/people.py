"""``auteur user …`` and ``auteur token …``: the accounts of AUTEUR_AUTH=on, from the command line.

Registered by ``controller.cli``; behind ``make user-add`` and ``make token-create``. Writes
the same store as the API (``auteur.accounts``, on the volume), so it works with or
without a running stack; every API replica sees a change at its next request.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from auteur.accounts import AccountError, AccountStore
from auteur.identity import Role
from auteur.settings import Settings

ROLES = [r.value for r in Role]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="people who sign in (AUTEUR_AUTH=on)").add_subparsers(dest="action", required=True)
    p = user.add_parser("add", help="add a user (asks for the password)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.add_argument("--replace", action="store_true", help="change a user who exists")
    p = user.add_parser("remove", help="remove a user, their token and their sessions")
    p.add_argument("name")
    user.add_parser("list", help="the users")
    token = sub.add_parser("token", help="bearer tokens for scripts").add_subparsers(dest="action", required=True)
    p = token.add_parser("create", help="create a token acting as NAME; prints its secret once")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p = token.add_parser("revoke", help="revoke the token NAME")
    p.add_argument("name")
    token.add_parser("list", help="the tokens (never their secrets)")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask the password on: pass --password-stdin and write it to stdin")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    store = AccountStore(settings.state)
    try:
        if args.action == "add":
            actor = store.add_user(args.name, Role(args.role), email=args.email, password=_password(args), replace=args.replace)
            print(f"user {actor.name}: {actor.role.value}" + (f" <{actor.email}>" if actor.email else ""))
        elif args.action == "remove":
            store.remove_user(args.name)
            print(f"user {args.name} removed (with their token and sessions)")
        else:
            for name, user in sorted(store.accounts().users.items()):
                print(f"{name}\t{user.role.value}\t{user.email or ''}")
    except AccountError as exc:
        print(f"auteur user {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    store = AccountStore(settings.state)
    try:
        if args.action == "create":
            secret = store.create_token(args.name, Role(args.role), created_by="cli")
            print(secret)
            print(f"token {args.name} ({args.role}): keep it now, it is not shown again", file=sys.stderr)
        elif args.action == "revoke":
            if not store.revoke_token(args.name):
                raise AccountError(f"no token named {args.name!r}")
            print(f"token {args.name} revoked")
        else:
            for info in store.tokens():
                print(f"{info.name}\t{info.role.value}\t{info.created_by or ''}")
    except AccountError as exc:
        print(f"auteur token {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0
