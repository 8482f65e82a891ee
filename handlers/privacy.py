"""Masking of residents' phone and ID numbers in everything the bot posts or logs."""

from __future__ import annotations

import re

# Mainland ID card numbers: 17 digits and a check digit or X. Matched before phones so that the
# 11-digit phone pattern never bites into an ID number.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{2})(\d{11})(\d{3}[\dXx])(?![0-9A-Za-z])")
# Mobile numbers, optionally with +86 / 86 and separators (138-1234-5678, 138 1234 5678).
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
# Landlines such as 0371-12345678 or 010 1234 5678.
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{3,4})[- ]?(\d{4})(?!\d)")


def mask_pii(text: str) -> str:
    """138****5678 for mobiles, 110***********1234 for ID numbers, 0371-****5678 for landlines."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 11 + m.group(3), text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
