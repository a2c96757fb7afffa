"""Readers for n2n's own test outputs in shared/interop/n2n-tests/*.expected (our oracle).

A file is a sequence of blocks: a label line `name: text` (e.g. `aes: output size = 0x236`), then
optionally hexdump lines `000: 03 02 ...  |ascii|`. `read_blocks` gives (label, text, bytes) in order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_HEX_LINE = re.compile(r"^([0-9a-f]{3,}):((?: [0-9a-f]{2}| ){1,60})\s*\|")


def shared_dir() -> Path:
    env = os.environ.get("PYN2N_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared"


def vectors_dir() -> Path:
    path = shared_dir() / "interop" / "n2n-tests"
    if not path.is_dir():
        raise FileNotFoundError(
            f"n2n test vectors not found at {path}: check out shared/ beside the repository "
            "or set PYN2N_SHARED"
        )
    return path


@dataclass
class Block:
    label: str  # the part before the first colon, e.g. "aes"
    text: str  # the rest of the label line, e.g. "output size = 0x236"
    data: bytes  # the hexdump that follows, empty if none


def read_blocks(name: str) -> list[Block]:
    blocks: list[Block] = []
    for line in (vectors_dir() / name).read_text().splitlines():
        m = _HEX_LINE.match(line)
        if m and blocks:
            hexpart = m.group(2).split()
            blocks[-1].data += bytes(int(h, 16) for h in hexpart)
            continue
        if ":" in line and not line.startswith("###"):
            label, _, text = line.partition(":")
            blocks.append(Block(label.strip(), text.strip(), b""))
    return blocks


def find(name: str, label: str, text_prefix: str = "") -> Block:
    for block in read_blocks(name):
        if block.label == label and block.text.startswith(text_prefix):
            return block
    raise KeyError(f"{name}: no block {label}: {text_prefix}")


def standard_input() -> bytes:
    """The 512-byte input n2n's tests use: (00..0f) x 32."""
    return bytes(range(16)) * 32
