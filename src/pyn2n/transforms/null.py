"""Transform 1, null (spec §5): the payload is the frame itself."""

from __future__ import annotations

from pyn2n.constants import N2N_TRANSFORM_ID_NULL
from pyn2n.transforms.base import MAX_FRAME, TransformError


class NullTransform:
    """No encryption (`-A1`, or no key)."""

    id = N2N_TRANSFORM_ID_NULL
    name = "null"

    def encode(self, frame: bytes) -> bytes:
        return bytes(frame)  # no copy when it is bytes already

    def decode(self, payload: bytes) -> bytes:
        if len(payload) > MAX_FRAME:
            raise TransformError(f"null payload of {len(payload)} bytes exceeds {MAX_FRAME}")
        return bytes(payload)
