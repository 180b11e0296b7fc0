"""`python -m services.audit.checkpointer`: run the checkpointer (see `service`)."""

from __future__ import annotations

import sys

from services.audit.checkpointer.service import main

if __name__ == "__main__":
    sys.exit(main())
