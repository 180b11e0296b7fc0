"""Run the incidents intake: `python -m services.incidents` (settings from the environment)."""

from services.contracts import Service
from services.intake.runner import run

if __name__ == "__main__":
    raise SystemExit(run(Service.INCIDENTS))
