"""State files of running labs: `/run/pyn2n/lab-<id>.json`, so `pyn2n lab status|down` find them.

JSON object: `version` (1), `run_id`, `created` (Unix time), `owner_pid` (the process that
built it), `loss`, `plan` (topology.Plan.to_dict: hosts with namespaces and addresses) and
`processes` (`[{pid, node, argv}]`, what the lab spawned). Only namespaces listed in a state file
(and named `p2n<run_id>-...`) are ever removed by `pyn2n lab down`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyn2n.lab.topology import LabError, Plan, check_run_id, ns_name

DEFAULT_STATE_DIR = Path("/run/pyn2n")
STATE_VERSION = 1


@dataclass
class LabState:
    plan: Plan
    loss: float = 0.0
    created: float = field(default_factory=time.time)
    owner_pid: int = field(default_factory=os.getpid)
    processes: list[dict[str, object]] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    def owned_namespaces(self) -> list[str]:
        """The recorded namespaces that carry this run's prefix (a guard against a bad file)."""
        prefix = ns_name(self.run_id, "")
        return [n for n in self.plan.namespaces if n.startswith(prefix)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "run_id": self.run_id,
                "created": self.created,
                "owner_pid": self.owner_pid,
                "loss": self.loss,
                "plan": self.plan.to_dict(),
                "processes": self.processes,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> LabState:
        try:
            data = json.loads(text)
            if data.get("version") != STATE_VERSION:
                raise LabError(f"unsupported lab state version {data.get('version')!r}")
            plan = Plan.from_dict(data["plan"])
            if plan.run_id != data["run_id"]:
                raise LabError("lab state run_id does not match its plan")
            return cls(
                plan=plan,
                loss=float(data["loss"]),
                created=float(data["created"]),
                owner_pid=int(data["owner_pid"]),
                processes=list(data["processes"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise LabError(f"malformed lab state: {e}") from e


def state_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / f"lab-{check_run_id(run_id)}.json"


def write_state(state_dir: Path, state: LabState) -> Path:
    """Write atomically (rename), so a reader never sees half a file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir, state.run_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)
    return path


def read_state(state_dir: Path, run_id: str) -> LabState:
    path = state_path(state_dir, run_id)
    try:
        return LabState.from_json(path.read_text())
    except FileNotFoundError:
        raise LabError(f"no lab {run_id} (no {path})") from None


def list_states(state_dir: Path) -> tuple[list[LabState], list[tuple[Path, str]]]:
    """All readable lab states, oldest first, and the (path, error) of unreadable ones."""
    states: list[LabState] = []
    errors: list[tuple[Path, str]] = []
    if state_dir.is_dir():
        for path in sorted(state_dir.glob("lab-*.json")):
            try:
                states.append(LabState.from_json(path.read_text()))
            except (OSError, LabError) as e:
                errors.append((path, str(e)))
    states.sort(key=lambda s: s.created)
    return states, errors
