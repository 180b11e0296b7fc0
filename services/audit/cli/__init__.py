"""`gvi-audit`, the auditors' command line (the console script; also `python -m services.audit.cli`).

* `arguments`: the command line (its docstring is `gvi-audit --help`'s);
* `commands`: what `verify`, `replay`, `explain` and `export` do, through `services.audit.library`;
* `progress`, `settings`: the progress bar on stderr and the settings from the environment.
"""

from __future__ import annotations

from services.audit.cli.arguments import parse_time
from services.audit.cli.commands import main

__all__ = ["main", "parse_time"]
