"""Kubernetes resource quantities (250m, 1, 512Mi, 2Gi) as numbers, to compare requests with limits."""
from __future__ import annotations

import re
from decimal import Decimal

PATTERN = r"[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?"
HINT = "a Kubernetes quantity like 250m, 1, 512Mi or 2Gi"
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
    "T": Decimal(10**12), "P": Decimal(10**15), "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30),
    "Ti": Decimal(2**40), "Pi": Decimal(2**50),
}


def amount(quantity: str) -> Decimal:
    """'250m' -> 0.25, '512Mi' -> 536870912."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", quantity)
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"{quantity!r} is not {HINT}")
    return Decimal(match.group(1)) * _SUFFIX[match.group(2)]


def whole_bytes(quantity: str) -> int:
    return int(amount(quantity))
