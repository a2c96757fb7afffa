"""pyn2n.lab: virtual clouds in Linux network namespaces (routed underlay, no multicast, NAT, loss).

See docs/lab.md. The building blocks: `topology` (address plan, pure), `system` (namespaces,
veths, iptables, processes), `state` (state files for `pyn2n lab status|down`), `lab` (`Lab`).
"""

from pyn2n.lab.lab import Lab, destroy, new_run_id
from pyn2n.lab.state import DEFAULT_STATE_DIR, LabState, list_states, read_state
from pyn2n.lab.system import preflight
from pyn2n.lab.topology import OVERLAY, OVERLAY_PREFIXLEN, UNDERLAY, LabError, Plan, make_plan

__all__ = [
    "DEFAULT_STATE_DIR",
    "OVERLAY",
    "OVERLAY_PREFIXLEN",
    "UNDERLAY",
    "Lab",
    "LabError",
    "LabState",
    "Plan",
    "destroy",
    "list_states",
    "make_plan",
    "new_run_id",
    "preflight",
    "read_state",
]
