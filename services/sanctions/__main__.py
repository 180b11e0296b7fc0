"""Run the sanctions intake: `python -m services.sanctions` (settings from the environment)."""

from services.contracts import Service
from services.intake.runner import run

if __name__ == "__main__":
    raise SystemExit(run(Service.SANCTIONS))
