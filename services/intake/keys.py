"""`python -m services.intake.keys new`: make an agency API key and the digest for the agencies file."""

from __future__ import annotations

import secrets
import sys

from services.intake.agencies import hash_key


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["new"]:
        print("usage: python -m services.intake.keys new", file=sys.stderr)
        return 2
    key = secrets.token_urlsafe(32)
    print(f"key (give to the agency, store nowhere else): {key}")
    print(f'key_sha256 (put in the agencies file):         "{hash_key(key)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
