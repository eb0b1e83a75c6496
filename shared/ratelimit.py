"""Rate-limit strings: ``"3/min"``, ``"10/min,500/day"``, ``"5/2h"``.

Parsing happens once at config load; a bad string is a config error naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "mo": 30 * 86400, "month": 30 * 86400, "months": 30 * 86400,
    "y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}
_PART = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-zA-Z]+)\s*$")


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests in any ``seconds``-long sliding window."""

    limit: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.seconds}s"


TPR = "tpr"  # "<tokens>/tpr": estimated tokens per request (provider keys only), a Window of 0 seconds


def parse_limits(text: str, tokens_per_request: bool = False) -> tuple[Window, ...]:
    """Parse ``"10/min,500/day"`` into windows; raise ``ValueError`` with a readable reason.
    With ``tokens_per_request``, ``"<tokens>/tpr"`` is allowed too, as ``Window(tokens, 0)``."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError("expected a string like '10/min' or '10/min,500/day'")
    windows = []
    for part in str(text).split(","):
        match = _PART.match(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a limit; expected '<count>/<unit>' such as '10/min' "
                             "(units: s, min, hour, day, month, year)")
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
        if unit == TPR and tokens_per_request and not match[2] and count > 0:
            windows.append(Window(count, 0))
            continue
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r} in {part.strip()!r}; expected one of s, min, hour, day, month, year")
        if count <= 0 or multiple <= 0:
            raise ValueError(f"{part.strip()!r}: count and period must be positive")
        windows.append(Window(count, multiple * UNITS[unit]))
    return tuple(windows)
