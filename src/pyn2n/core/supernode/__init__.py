"""The sans-IO supernode (spec §6, §7.2–§7.6; n2n `src/sn_utils.c`), as collaborators.

`node` is the facade a driver talks to (`pyn2n.core.api`): it dispatches each datagram through
`header` (trial decryption, locking, time stamps) to the handlers in `relay` (PACKET, REGISTER,
QUERY_PEER, PEER_INFO), `register` (REGISTER_SUPER, UNREGISTER_SUPER, authentication, auto-IP)
and `federation` (the other supernodes); `registry` holds communities, edges and associations.
Where it deliberately differs from n2n: docs/n2n-differences.md ("Supernode").
"""

from pyn2n.core.supernode.node import Supernode
from pyn2n.core.supernode.registry import SupernodeStats

__all__ = ["Supernode", "SupernodeStats"]
