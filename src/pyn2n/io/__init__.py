"""pyn2n.io: thin Linux drivers around the sans-IO core.

`tap` (TAP device), `udp` (data and management sockets), `netconf` (rtnetlink via pyroute2),
`loop` (the epoll loops binding a node to them, calling only what `core/api.py` declares),
`linux` (the kernel ABI numbers they use).
"""
