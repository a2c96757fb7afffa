"""Drives Debian's chromium (through Playwright, never its own browser download) against the
status pages of a running lab; run inside a lab namespace by test_observe.py.

argv: supernode page URL, edge page URL, number of edges, screenshot directory. It prints one
JSON line per phase: "loaded" once both pages show the lab, then, after a line on stdin (the test
has stopped an edge meanwhile), "updated" once the supernode page shows one edge fewer.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000


def rows(page: Page) -> list[dict[str, Any]]:
    """The main table's rows: their MAC and cell texts, and the path pill if any."""
    out: list[dict[str, Any]] = page.eval_on_selector_all(
        "#table tr[data-mac]",
        """trs => trs.map(tr => ({
            mac: tr.dataset.mac,
            cells: [...tr.cells].map(td => td.textContent),
            path: tr.querySelector('[data-path]')?.dataset.path ?? null}))""",
    )
    return out


def say(phase: str, **data: Any) -> None:
    print(json.dumps({"phase": phase, **data}), flush=True)


def main() -> None:
    sn_url, edge_url, n_edges, shots = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    with tempfile.TemporaryDirectory(prefix="pyn2n-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 820},
        )
        sn_page = ctx.new_page()
        sn_page.goto(sn_url)
        sn_page.wait_for_function(
            f"document.querySelectorAll('#table tr[data-mac]').length === {n_edges}",
            timeout=WAIT_MS,
        )
        edge_page = ctx.new_page()
        edge_page.goto(edge_url)
        # every other edge shown, none of them still without a path
        edge_page.wait_for_function(
            f"document.querySelectorAll('#table tr[data-mac] [data-path]').length === {n_edges - 1}",
            timeout=WAIT_MS,
        )
        edge_page.wait_for_timeout(2500)  # one more refresh: the graph as it settled
        edge_page.screenshot(path=str(shots / "status-page.png"))
        sn_page.screenshot(path=str(shots / "status-page-supernode.png"))
        say(
            "loaded",
            supernode=rows(sn_page),
            edge=rows(edge_page),
            title=sn_page.title(),
            graph_nodes=sn_page.eval_on_selector_all("#svg g[data-label]", "gs => gs.length"),
        )
        sys.stdin.readline()
        sn_page.wait_for_function(
            f"document.querySelectorAll('#table tr[data-mac]').length === {n_edges - 1}",
            timeout=WAIT_MS,
        )
        say(
            "updated",
            supernode=rows(sn_page),
            changes=sn_page.eval_on_selector_all(
                "#changes li", "lis => lis.map(l => l.textContent)"
            ),
        )
        ctx.close()


if __name__ == "__main__":
    main()
