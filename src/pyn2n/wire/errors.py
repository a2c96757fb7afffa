"""The one exception the wire decoders raise.

Any byte string handed to `pyn2n.wire.decode*` either decodes or raises `WireError`
(docs/architecture.md "Rules"): the core catches it, counts and drops the datagram. Encoders, whose
input is local, raise plain `ValueError` for out-of-range fields instead.
"""

from __future__ import annotations


class WireError(ValueError):
    """Bytes that are not a valid n2n v3 message (truncated, bad version, bad lengths …)."""
