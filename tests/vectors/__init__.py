"""Readers for n2n's own test outputs, kept beside this file as *.expected (our oracle; README.md).

A file is a sequence of blocks: a label line `name: text` (e.g. `aes: output size = 0x236`), then
optionally hexdump lines `000: 03 02 ...  |ascii|`. `read_blocks` gives (label, text, bytes) in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEX_LINE = re.compile(r"^([0-9a-f]{3,}):((?: [0-9a-f]{2}| ){1,60})\s*\|")


def vectors_dir() -> Path:
    return Path(__file__).resolve().parent


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
