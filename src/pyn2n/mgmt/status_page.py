"""The status page of `--http`: one self-contained HTML document (inline CSS, JS and SVG; no
external assets) that fetches `status.json` every 2 s and draws the node's view: an edge's peers
and the path to each (direct, fast, relayed through the supernode), or a supernode's communities
and edges; counters, drops and the last changes. It only reads; it offers nothing to write."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pyn2n status</title>
<style>
:root { --fg:#1d2330; --mute:#6b7385; --line:#d9dde6; --bg:#f6f7fa; --card:#fff;
  --direct:#1f9d55; --fast:#2563eb; --relayed:#d97706; --bad:#dc2626; --other:#7c3aed; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg);
  background:var(--bg); }
header { display:flex; gap:1rem; align-items:baseline; padding:.8rem 1.2rem; background:#1d2330;
  color:#fff; }
header h1 { font-size:1.1rem; margin:0; }
header .meta { color:#b9c0cf; font-size:.85rem; }
#state { margin-left:auto; font-size:.85rem; }
main { display:grid; grid-template-columns: minmax(340px, 460px) minmax(0, 1fr); gap:1rem; padding:1rem 1.2rem; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.7rem .9rem; min-width:0; overflow-x:auto; }
section h2 { font-size:.95rem; margin:0 0 .5rem; }
#graph { grid-row: span 2; }
svg { width:100%; height:auto; }
svg text { paint-order:stroke; stroke:#fff; stroke-width:4px; stroke-linejoin:round; }
svg text.in { stroke:none; }
table { border-collapse:collapse; width:100%; font-size:.85rem; }
th, td { text-align:left; padding:.25rem .4rem; border-bottom:1px solid var(--line); white-space:nowrap;
  max-width:13rem; overflow:hidden; text-overflow:ellipsis; }
th { color:var(--mute); font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
.pill { display:inline-block; padding:0 .45rem; border-radius:999px; color:#fff; font-size:.78rem; }
.p-direct { background:var(--direct); } .p-fast { background:var(--fast); }
.p-relayed { background:var(--relayed); } .p-bad { background:var(--bad); } .p-other { background:var(--other); }
.legend span { margin-right:.8rem; font-size:.8rem; color:var(--mute); }
.legend i { display:inline-block; width:18px; height:0; border-top:3px solid; vertical-align:middle; margin-right:.3rem; }
ul#changes { list-style:none; margin:0; padding:0; max-height:14rem; overflow:auto; font-size:.85rem; }
ul#changes li { padding:.15rem 0; border-bottom:1px dotted var(--line); }
ul#changes time { color:var(--mute); margin-right:.5rem; font-variant-numeric: tabular-nums; }
.mute { color:var(--mute); }
.counters { display:flex; flex-wrap:wrap; gap:.5rem 1.2rem; }
.counters div b { display:block; font-size:1.1rem; font-variant-numeric: tabular-nums; }
.counters div span { color:var(--mute); font-size:.78rem; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style></head>
<body>
<header><h1 id="title">pyn2n</h1><span class="meta" id="meta"></span><span id="state">loading…</span></header>
<main>
<section id="graph"><h2 id="graph-title">Graph</h2><svg id="svg" viewBox="0 0 440 440" role="img" aria-label="graph"></svg>
<div class="legend" id="legend"></div></section>
<section><h2 id="table-title">Peers</h2><div id="table"></div></section>
<section><h2>Counters</h2><div class="counters" id="counters"></div><div id="drops"></div></section>
<section><h2>Last changes</h2><ul id="changes"></ul></section>
<section><h2 id="side-title">Supernodes</h2><div id="side"></div></section>
</main>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
const COLORS = {direct:"var(--direct)", fast:"var(--fast)", relayed:"var(--relayed)"};
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function pill(path) {
  const cls = ["direct", "fast", "relayed"].includes(path) ? path : "other";
  return el("span", {class: "pill p-" + cls, "data-path": path}, path);
}
function table(head, rows, attrs) {
  const t = el("table");
  const tr = el("tr");
  head.forEach((h) => tr.appendChild(el("th", {}, h)));
  t.appendChild(tr);
  rows.forEach((cells, i) => {
    const r = el("tr", attrs ? attrs(i) : {});
    cells.forEach((c) => {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); r.appendChild(td); }
      else r.appendChild(el("td", typeof c === "number" ? {class: "num"} : {title: c ?? ""}, c ?? ""));
    });
    t.appendChild(r);
  });
  return t;
}
function fill(id, node) { const e = $(id); e.replaceChildren(node); }
function ago(s) {
  if (s === null || s === undefined) return "never";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}
function counters(items) {
  const box = el("div", {class: "counters"});
  for (const [label, value] of items) {
    const d = el("div"); d.appendChild(el("b", {}, value)); d.appendChild(el("span", {}, label));
    box.appendChild(d);
  }
  $("counters").replaceWith(box); box.id = "counters";
}
function drops(d) {
  const rows = Object.entries(d).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  fill("drops", rows.length ? table(["drop reason", "count"], rows) : el("p", {class: "mute"}, "no drops"));
}
function changes(list) {
  const ul = $("changes"); ul.replaceChildren();
  if (!list.length) ul.appendChild(el("li", {class: "mute"}, "nothing yet"));
  for (const c of list) {
    const li = el("li");
    li.appendChild(el("time", {}, new Date(c.time * 1000).toLocaleTimeString()));
    li.appendChild(document.createTextNode(c.text));
    ul.appendChild(li);
  }
}
function ring(n, r, cx, cy, start) {
  return Array.from({length: n}, (_, i) => {
    const a = (start || -Math.PI / 2) + (2 * Math.PI * i) / Math.max(n, 1);
    return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  });
}
function nodeAt(svg, x, y, label, sub, fill, shape) {
  const g = sv("g", {"data-label": label});
  if (shape === "rect") {
    // a supernode: its name inside, its address beside it (lines leave from top and bottom)
    g.appendChild(sv("rect", {x: x - 48, y: y - 16, width: 96, height: 32, rx: 6, fill}));
    g.appendChild(sv("text", {x, y: y + 4, "text-anchor": "middle", "font-size": 12, fill: "#fff", class: "in"}, label));
    if (sub) g.appendChild(sv("text", {x: x + 54, y: y + 4, "font-size": 10, fill: "#6b7385"}, sub));
  } else {
    g.appendChild(sv("circle", {cx: x, cy: y, r: 18, fill}));
    g.appendChild(sv("text", {x, y: y + 32, "text-anchor": "middle", "font-size": 12, fill: "#1d2330"}, label));
    if (sub) g.appendChild(sv("text", {x, y: y + 45, "text-anchor": "middle", "font-size": 10, fill: "#6b7385"}, sub));
  }
  svg.appendChild(g);
}
function line(svg, a, b, color, dashed, width) {
  svg.appendChild(sv("line", {x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: color,
    "stroke-width": width || 3, "stroke-dasharray": dashed ? "7 5" : "none", "stroke-linecap": "round"}));
}
function legend(items) {
  const box = $("legend"); box.replaceChildren();
  for (const [label, color, dashed] of items) {
    const s = el("span"); const i = el("i");
    i.style.borderTopColor = color; if (dashed) i.style.borderTopStyle = "dashed";
    s.appendChild(i); s.appendChild(document.createTextNode(label)); box.appendChild(s);
  }
}
function drawEdge(s) {
  const svg = $("svg"); svg.replaceChildren();
  const me = [220, 210], sn = [220, 60];
  const peers = s.peers;
  // peers on the lower arc, clear of the supernode above
  const pos = peers.map((_, i) => {
    const a = (-20 + (220 * (i + 0.5)) / peers.length) * Math.PI / 180;
    return [220 + 165 * Math.cos(a), 210 + 150 * Math.sin(a)];
  });
  const cur = s.supernodes.find((x) => x.current) || s.supernodes[0];
  line(svg, me, sn, s.registered ? "#9aa3b5" : "var(--bad)", !s.registered, 2);
  peers.forEach((p, i) => {
    const c = COLORS[p.via] || "var(--other)";
    if (p.via === "relayed") { line(svg, sn, pos[i], c, true); line(svg, me, sn, c, true, 2); }
    else line(svg, me, pos[i], c, false, p.via === "fast" ? 5 : 3);
  });
  nodeAt(svg, sn[0], sn[1], "supernode", cur ? cur.sockaddr : "", s.registered ? "#475069" : "var(--bad)", "rect");
  peers.forEach((p, i) => nodeAt(svg, pos[i][0], pos[i][1], p.desc || p.macaddr, p.ip4addr, COLORS[p.via] || "var(--other)"));
  nodeAt(svg, me[0], me[1], s.desc || "this edge", s.info.ip4addr, "#1d2330");
  legend([["direct", "var(--direct)"], ["fast path", "var(--fast)"], ["through the supernode", "var(--relayed)", true]]);
}
function renderEdge(s) {
  $("title").textContent = "pyn2n edge " + (s.desc || "");
  $("meta").textContent = `community ${s.community ?? "(header-encrypted)"} · ${s.info.ip4addr} · ${s.info.macaddr} · v${s.version} · up ${ago(s.uptime)}`;
  $("graph-title").textContent = "Peers and paths";
  drawEdge(s);
  $("table-title").textContent = `Peers (${s.peers.length})`;
  fill("table", table(["peer", "ip", "path", "why relayed", "rtt ms", "socket", "fast path"],
    s.peers.map((p) => [p.desc || p.macaddr, p.ip4addr, pill(p.via), p.reason, p.rtt_ms, p.sockaddr, p.fastpath]),
    (i) => ({"data-mac": s.peers[i].macaddr})));
  const pk = s.packets;
  counters([["tx direct", pk.tx.direct], ["rx direct", pk.rx.direct], ["tx fast", pk.tx.fast],
    ["rx fast", pk.rx.fast], ["tx relayed", pk.tx.relayed], ["rx relayed", pk.rx.relayed],
    ["supernode silent", ago(s.supernode_silence)]]);
  drops(s.drops);
  $("side-title").textContent = "Supernodes";
  fill("side", table(["supernode", "current", "selection", "rtt ms", "last seen"],
    s.supernodes.map((x) => [x.sockaddr, x.current ? "yes" : "", x.selection, x.rtt_ms,
      x.last_seen ? ago(s.time - x.last_seen) : "never"])));
}
const PALETTE = ["#2563eb", "#1f9d55", "#d97706", "#7c3aed", "#db2777", "#0891b2"];
function drawSupernode(s) {
  const svg = $("svg"); svg.replaceChildren();
  const me = [220, 230];
  const comms = s.communities.filter((c) => !c.is_federation);
  const all = [];
  comms.forEach((c, ci) => c.edges.forEach((e) => all.push([e, PALETTE[ci % PALETTE.length]])));
  const pos = ring(all.length, 150, me[0], me[1]);
  all.forEach(([, color], i) => line(svg, me, pos[i], color, false, 2));
  const fed = ring(s.federation.length, 200, me[0], me[1], -Math.PI / 2 + 0.5);
  s.federation.forEach((m, i) => { line(svg, me, fed[i], "#9aa3b5", !m.active, 2);
    nodeAt(svg, fed[i][0], fed[i][1], "supernode", m.sockaddr, m.active ? "#475069" : "var(--bad)", "rect"); });
  all.forEach(([e, color], i) => nodeAt(svg, pos[i][0], pos[i][1], e.desc || e.macaddr, e.ip4addr, color));
  nodeAt(svg, me[0], me[1], "this supernode", "", "#1d2330", "rect");
  legend(comms.map((c, ci) => [c.community, PALETTE[ci % PALETTE.length]]));
}
function renderSupernode(s) {
  $("title").textContent = "pyn2n supernode";
  const comms = s.communities.filter((c) => !c.is_federation);
  const edges = comms.flatMap((c) => c.edges);
  $("meta").textContent = `${comms.length} communities · ${edges.length} edges · v${s.version} · up ${ago(s.uptime)}`;
  $("graph-title").textContent = "Communities and edges";
  drawSupernode(s);
  $("table-title").textContent = `Edges (${edges.length})`;
  fill("table", table(["community", "edge", "ip", "mac", "socket", "last seen"],
    edges.map((e) => [e.community, e.desc, e.ip4addr, e.macaddr, e.sockaddr, ago(s.time - e.last_seen)]),
    (i) => ({"data-mac": edges[i].macaddr})));
  const st = s.stats;
  counters([["relayed", st.relayed_unicast], ["broadcast copies", st.relayed_broadcast],
    ["REGISTER_SUPER", st.register_super], ["NAKs", st.register_super_nak], ["send errors", st.send_errors]]);
  drops(s.drops);
  $("side-title").textContent = "Communities";
  fill("side", table(["community", "edges", "subnet", "federation"],
    s.communities.map((c) => [c.community, c.edges.length, c.ip4addr, c.is_federation ? "yes" : ""])));
}
async function tick() {
  try {
    const r = await fetch("status.json", {cache: "no-store"});
    const s = await r.json();
    if (s.role === "edge") renderEdge(s); else if (s.role === "supernode") renderSupernode(s);
    changes(s.changes || []);
    $("state").textContent = "updated " + new Date().toLocaleTimeString();
    $("state").style.color = "";
    document.body.dataset.updated = String(Date.now());
  } catch (e) {
    $("state").textContent = "no answer from the node";
    $("state").style.color = "#fca5a5";
  }
}
tick();
setInterval(tick, 2000);
</script>
</body></html>
"""
