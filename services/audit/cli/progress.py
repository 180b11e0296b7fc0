"""A progress bar on stderr for long reads, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["ProgressBar"]


class ProgressBar:
    def __init__(self, label: str, *, enabled: bool | None = None, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._label = label
        self._drawn_at = 0.0
        self._started = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at < 0.2 and done < total:
            return
        self._drawn_at = now
        share = done / total if total else 1.0
        width = 30
        filled = int(share * width)
        rate = done / max(now - self._started, 1e-6)
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] {share:4.0%} "
                           f"{done:,}/{total:,} offsets, {rate:,.0f}/s ")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
