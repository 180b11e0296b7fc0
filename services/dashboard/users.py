"""`python -m services.dashboard.users hash`: read a new password (twice, not echoed) and print the
`password_hash` line for the users file."""

from __future__ import annotations

import getpass
import sys

from services.dashboard.auth import ConfigError, check_new_password, hash_password


def main(argv: list[str]) -> int:
    if argv != ["hash"]:
        print("usage: python -m services.dashboard.users hash", file=sys.stderr)
        return 2
    password = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != password:
        print("the passwords differ", file=sys.stderr)
        return 1
    try:
        check_new_password(password)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f'password_hash = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
