"""The sans-IO edge, in collaborators: `node` (the `Edge` facade and its timers), `state`
(shared facts and senders), `registration`, `discovery`, `datapath`, `dispatch` and `security`.
"""

from pyn2n.core.api import MgmtError
from pyn2n.core.edge.node import Edge

__all__ = ["Edge", "MgmtError"]
