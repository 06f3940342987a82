"""Integers a client spells in text: query parameters (``?limit=``, ``?since=``), form fields
(``expires_in_seconds``) and headers (``x-stainless-retry-count``).

Python's ``int()`` reads far more than a client means: ``1_000``, `` 7``, ``+5`` and digits of
any script (``٣``). :func:`decimal` reads only ASCII decimal digits, with a leading ``-`` where
the caller says a negative value means something (it gets the endpoint's out-of-range answer
rather than its unreadable one).
"""

from __future__ import annotations


def decimal(raw: str, *, signed: bool = False) -> int | None:
    """``raw`` as an integer if it is ASCII decimal digits (after a ``-`` when ``signed``), else
    ``None`` — so too past ``int()``'s digit limit (4300 digits), which no caller's range reaches."""
    negative = signed and raw.startswith("-")
    digits = raw[1:] if negative else raw
    if not digits.isascii() or not digits.isdigit():  # isdigit() alone takes "²" and "٣"; "" is neither
        return None
    try:
        value = int(digits)
    except ValueError:
        return None
    return -value if negative else value
