"""Run the notifications intake: `python -m services.notifications` (settings from the environment)."""

from services.contracts import Service
from services.intake.runner import run

if __name__ == "__main__":
    raise SystemExit(run(Service.NOTIFICATIONS))
