"""Parsers for the human units that specs use: SLURM time limits, memory, parameter counts.

Each returns a plain number and raises `ValueError` with a message that shows an
accepted form, which pydantic turns into a located spec error.
"""

from __future__ import annotations

import math
import re

_TIME_FORMS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 12:00:00 or 2-00:00:00)"


def parse_time_minutes(value: str | int) -> int:
    """A SLURM time limit (``--time``) in whole minutes, rounded up."""
    if isinstance(value, bool):
        raise ValueError(f"time must be a string like {_TIME_FORMS}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("time in minutes must be positive")
        return _within_limit(value, value)
    text = str(value).strip()
    days = 0
    m = re.fullmatch(r"(\d+)-(.+)", text)
    if m:
        days, text = int(m.group(1)), m.group(2)
        parts = text.split(":")
        if not all(p.isdigit() for p in parts) or len(parts) > 3:
            raise ValueError(f"cannot read time {value!r}; use {_TIME_FORMS}")
        nums = [int(p) for p in parts] + [0] * (3 - len(parts))
        hours, minutes, seconds = nums
    else:
        parts = text.split(":")
        if not text or not all(p.isdigit() for p in parts) or len(parts) > 3:
            raise ValueError(f"cannot read time {value!r}; use {_TIME_FORMS}")
        nums = [int(p) for p in parts]
        if len(nums) == 1:
            hours, minutes, seconds = 0, nums[0], 0
        elif len(nums) == 2:
            hours, minutes, seconds = 0, nums[0], nums[1]
        else:
            hours, minutes, seconds = nums
    if (minutes >= 60 and (days or len(parts) == 3)) or seconds >= 60:
        raise ValueError(f"cannot read time {value!r}: minutes and seconds must be under 60; use {_TIME_FORMS}")
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    if total <= 0:
        raise ValueError("time must be positive")
    return _within_limit(total, value)


MAX_TIME_MIN = 365 * 1440  # SLURM reads anything huge as UNLIMITED: a typo would hold nodes forever


def _within_limit(minutes: int, value: str | int) -> int:
    if minutes > MAX_TIME_MIN:
        raise ValueError(f"time {value!r} is more than 365 days (365-00:00:00); "
                         "give the run's real limit, e.g. 2-00:00:00")
    return minutes


def format_time(minutes: int) -> str:
    """Minutes as SLURM's ``D-HH:MM:SS``, or ``HH:MM:SS`` under a day."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours:02d}:{mins:02d}:00"


_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_mem_mb(value: str | int) -> int:
    """A SLURM memory amount (``--mem``: 64G, 500M, 1T; plain numbers are MB) in MB."""
    if isinstance(value, bool):
        raise ValueError("mem must look like 64G, 512M or 1T")
    if isinstance(value, int):
        if not 0 < value < 2**30:
            raise ValueError("mem in MB must be positive (and below a petabyte)")
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT])?B?\s*", str(value), re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read memory {value!r}; write it like 64G, 512M or 1T")
    mb = float(m.group(1)) * _MEM_UNITS[(m.group(2) or "M").upper()]
    if not 0 < mb < 2**40:
        raise ValueError(f"memory {value!r} must be positive (and below a petabyte)")
    return math.ceil(mb)  # --mem=0 would mean "all of the node"


_COUNT_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


def parse_count(value: str | int | float) -> int:
    """A parameter count: an integer, or 0.5B / 350M / 72B."""
    if isinstance(value, bool):
        raise ValueError("a parameter count looks like 1500000000, 1.5B or 350M")
    if isinstance(value, (int, float)):
        if not 0 < value < 1e16:
            raise ValueError("a parameter count must be positive and below 10^16")
        return int(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMBGT]?)\s*", str(value), re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read parameter count {value!r}; write it like 1.5B or 350M")
    count = float(m.group(1)) * _COUNT_UNITS[m.group(2).upper()]
    if not 1 <= count < 1e16:
        raise ValueError(f"parameter count {value!r} must be at least 1 and below 10^16")
    return int(count)
