"""pyn2n — a Python implementation of the n2n v3 peer-to-peer Layer-2 VPN."""

__version__ = "0.1.0"
