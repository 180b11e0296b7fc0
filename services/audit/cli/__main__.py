"""`python -m services.audit.cli`: what the `gvi-audit` console command runs."""

from __future__ import annotations

import sys

from services.audit.cli import main

if __name__ == "__main__":
    sys.exit(main())
