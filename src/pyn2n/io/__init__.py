"""pyn2n.io: thin Linux drivers around the sans-IO core.

`tap` (TAP device), `udp` (data and management sockets), `netconf` (rtnetlink via pyroute2),
`loop` (the selector loop binding a node to them), `linux` (the kernel ABI numbers they use).
"""
