"""``serve.py admin``: the operators who may sign in to the dashboard, and the audit log.

A password is read from standard input (prompted for twice on a terminal, the first line
otherwise, so ``printf '%s\\n' "$PASSWORD" | serve.py admin create alice`` works in a
script), never from the command line, where ``ps`` and shell history would show it.  Given
none, one is generated and printed once.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata
from typing import TextIO

from chatcamp_server.dashboard.operators import (
    CLI_ACTOR,
    Operators,
    format_time,
    generate_password,
)
from chatcamp_server.errors import ServerError
from chatcamp_server.storage.store import AuditEntry, Store

PASSWORD_HELP = ("the password is read from standard input (asked twice on a terminal); "
                 "when it is empty, one is generated and printed once")


def add_parser(commands: argparse._SubParsersAction,  # type: ignore[type-arg]
               storage: argparse.ArgumentParser) -> None:
    admin = commands.add_parser(
        "admin", parents=[storage], help="manage dashboard operators, print the audit log",
        description="Make, list and delete the operators who sign in to /dashboard/, and "
                    "print the audit log of what they changed.")
    actions = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=[storage], help="make an operator",
                                description=f"Make an operator; {PASSWORD_HELP}.")
    create.add_argument("name", help="1 to 64 letters, digits, '.', '_', '@' or '-'")
    actions.add_parser("list", parents=[storage], help="list operators (never passwords)",
                       description="List operators as JSON lines.")
    delete = actions.add_parser("delete", parents=[storage], help="delete an operator",
                                description="Delete an operator; their dashboard sessions "
                                            "end at their next request.")
    delete.add_argument("name")
    password = actions.add_parser(
        "set-password", parents=[storage], help="give an operator a new password",
        description=f"Replace an operator's password, ending their dashboard sessions; "
                    f"{PASSWORD_HELP}.")
    password.add_argument("name")
    audit = actions.add_parser("audit", parents=[storage], help="print the audit log",
                               description="Print the audit log, newest first.")
    audit.add_argument("--limit", type=int, default=100, metavar="N",
                       help="entries to print (default: 100)")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")


def read_password(stdin: TextIO = sys.stdin) -> str | None:
    """The password typed or piped in, or None (generate one) when it is empty."""
    if stdin.isatty():
        first = getpass.getpass("Password (empty: generate one): ")
        if first and getpass.getpass("Password again: ") != first:
            raise ServerError("the two passwords differ", "PASSWORD_MISMATCH")
        return first or None
    return stdin.readline().rstrip("\r\n") or None


async def run(args: argparse.Namespace, store: Store) -> None:
    operators = Operators(store)
    command = args.admin_command
    if command == "create":
        operator, generated = await operators.create(args.name, read_password(), CLI_ACTOR)
        print(json.dumps({"name": operator.name, **({"password": generated}
                                                     if generated else {})}))
    elif command == "set-password":
        given = read_password()
        password = given or generate_password()
        await operators.set_password(args.name, password, CLI_ACTOR)
        print(json.dumps({"name": args.name, **({"password": password} if given is None
                                                 else {})}))
    elif command == "delete":
        await operators.delete(args.name, CLI_ACTOR)
        print(json.dumps({"deleted": args.name}))
    elif command == "list":
        for operator in await store.list_operators():
            print(json.dumps({"name": operator.name, "created_at": operator.created_at,
                              "password_changed_at": operator.password_changed_at}))
    else:
        for entry in await store.list_audit(max(1, args.limit)):
            print(json.dumps(_as_dict(entry)) if args.json else _line(entry))


def _as_dict(entry: AuditEntry) -> dict[str, object]:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "target": entry.target, "detail": entry.detail, "address": entry.address}


def _printable(text: str) -> str:
    """A terminal must not act on what a user ID or an app's name holds: control and format
    characters (escapes, bidirectional overrides) and line separators become ``?``."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in text)


def _line(entry: AuditEntry) -> str:
    detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
    parts = [format_time(entry.at), entry.actor, entry.action, entry.target, detail,
             f"from {entry.address}" if entry.address else ""]
    return _printable("  ".join(part for part in parts if part))
