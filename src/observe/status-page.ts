/**
 * The status page: one HTML document with its CSS and script inline, so it
 * needs no build step, no CDN and no second request. It listens to /events
 * and redraws; every name a client chose (channels, groups, instances) is
 * put in with textContent, never parsed as HTML.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>channel-layers broker</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --dim: #6b7385; --line: #e3e6ec;
          --sent: #2f6fde; --received: #1a9e6a; --expired: #d08a12; --dropped: #d2453b; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #1d2330; color: #fff; }
  header h1 { font-size: 17px; margin: 0; font-weight: 600; }
  header .meta { color: #aab2c5; font-size: 13px; }
  #live { margin-left: auto; font-size: 13px; }
  #live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #888; }
  #live.on::before { background: #3ad07f; }
  #live.off::before { background: #e0524a; }
  main { padding: 18px 24px; display: grid; gap: 16px; grid-template-columns: repeat(2, minmax(0, 1fr)); max-width: 1280px; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--dim); margin: 0 0 10px; font-weight: 600; }
  .figures { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; }
  .figure b { display: block; font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .figure span { color: var(--dim); font-size: 12px; }
  canvas { width: 100%; height: 200px; display: block; }
  .legend { display: flex; gap: 16px; font-size: 12px; color: var(--dim); margin-top: 6px; }
  .legend i { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin-right: 5px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 5px 8px 5px 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
  td.name { max-width: 360px; overflow: hidden; text-overflow: ellipsis; font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; }
  th { color: var(--dim); font-weight: 500; font-size: 12px; }
  th.n, td.n { text-align: right; padding-right: 0; }
  th.id, td.id { padding-right: 14px; color: var(--dim); }
  .empty { color: var(--dim); font-style: italic; }
  dl { display: grid; grid-template-columns: 1fr auto; gap: 4px 12px; margin: 0; font-variant-numeric: tabular-nums; }
  dt { color: var(--dim); } dd { margin: 0; text-align: right; }
</style>
</head>
<body>
<header>
  <h1>channel-layers broker</h1>
  <span class="meta">up <span id="uptime">–</span></span>
  <span class="meta">updated <span id="updated">–</span></span>
  <span id="live">connecting</span>
</header>
<main>
  <section class="wide">
    <div class="figures">
      <div class="figure"><b id="channels">–</b><span>channels</span></div>
      <div class="figure"><b id="messages">–</b><span>queued messages</span></div>
      <div class="figure"><b id="waitingReceivers">–</b><span>waiting receives</span></div>
      <div class="figure"><b id="groups">–</b><span>groups</span></div>
      <div class="figure"><b id="members">–</b><span>memberships</span></div>
      <div class="figure"><b id="clients">–</b><span>clients</span></div>
    </div>
  </section>
  <section class="wide">
    <h2>Messages per second</h2>
    <canvas id="chart"></canvas>
    <div class="legend">
      <span><i style="background:var(--sent)"></i>stored</span>
      <span><i style="background:var(--received)"></i>received</span>
      <span><i style="background:var(--expired)"></i>expired</span>
      <span><i style="background:var(--dropped)"></i>dropped</span>
      <span id="now-rates"></span>
    </div>
  </section>
  <section>
    <h2>Busiest channels</h2>
    <table id="top-channels"><thead><tr><th>channel</th><th class="n">queued</th><th class="n">waiting</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Largest groups</h2>
    <table id="top-groups"><thead><tr><th>group</th><th class="n">members</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Clients</h2>
    <table id="client-list"><thead><tr><th class="id">#</th><th>address</th><th>instance</th><th class="n">waiting</th><th class="n">connected</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Counters</h2>
    <dl id="counters"></dl>
  </section>
</main>
<script>
"use strict";
const COUNTERS = [
  ["sent", "sent"], ["received", "received"], ["expired", "expired"], ["groupSends", "group sends"],
  ["groupDelivered", "group deliveries"], ["groupSkippedFull", "skipped: member full"], ["rejectedFull", "refused: channel full"],
  ["droppedOverflow", "dropped: overflow"], ["rateLimited", "rate limited"], ["deadLettered", "dead-lettered"],
  ["membershipsExpired", "memberships expired"],
];
const SERIES = ["sent", "received", "expired", "dropped"];
// The chart spans the history it has, from one minute up to five.
const MIN_WINDOW_MS = 60 * 1000, MAX_WINDOW_MS = 5 * 60 * 1000;
const fmt = new Intl.NumberFormat("en-US");
let rates = [];

function $(id) { return document.getElementById(id); }
function num(n) { return fmt.format(Math.round(n)); }
function ago(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}
function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (cls === "name") td.title = text;
}
function fill(tableId, rows, empty, toCells) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const row = body.insertRow();
    cell(row, empty, "empty");
    row.cells[0].colSpan = $(tableId).tHead.rows[0].cells.length;
    return;
  }
  for (const item of rows) toCells(body.insertRow(), item);
}

function render(s) {
  for (const key of ["channels", "messages", "waitingReceivers", "groups", "members", "clients"]) $(key).textContent = num(s[key]);
  $("uptime").textContent = ago(s.uptime);
  $("updated").textContent = new Date(s.at).toLocaleTimeString();
  const dl = $("counters");
  dl.replaceChildren();
  for (const [key, label] of COUNTERS) {
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = num(s.counters[key]); dd.id = "counter-" + key;
    dl.append(dt, dd);
  }
  fill("top-channels", s.channelTop, "no channel holds anything", (row, c) => {
    cell(row, c.name, "name"); cell(row, num(c.messages), "n"); cell(row, num(c.waiting), "n");
  });
  fill("top-groups", s.groupTop, "no groups", (row, g) => { cell(row, g.name, "name"); cell(row, num(g.members), "n"); });
  fill("client-list", s.clientList, "no clients connected", (row, c) => {
    cell(row, String(c.id), "id"); cell(row, c.peer); cell(row, c.instance || "(before hello)", "name");
    cell(row, num(c.pendingReceives), "n"); cell(row, ago((s.at - c.since) / 1000), "n");
  });
  for (const point of s.rates) if (rates.length === 0 || point.at > rates[rates.length - 1].at) rates.push(point);
  const cutoff = s.at - MAX_WINDOW_MS;
  while (rates.length > 0 && rates[0].at < cutoff) rates.shift();
  const last = rates[rates.length - 1];
  $("now-rates").textContent = last ? "now: " + SERIES.map((k) => num(last[k]) + " " + (k === "sent" ? "stored" : k)).join(", ") + " /s" : "";
  draw(s.at);
}

function niceMax(v) {
  if (v <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function draw(now) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const css = getComputedStyle(document.documentElement);
  const left = 56, right = 8, top = 8, bottom = 22;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0;
  for (const p of rates) for (const k of SERIES) max = Math.max(max, p[k]);
  max = niceMax(max);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = css.getPropertyValue("--dim");
  g.strokeStyle = css.getPropertyValue("--line");
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
    g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText(fmt.format((max * i) / 4), left - 6, y);
  }
  const span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, rates.length ? now - rates[0].at : 0));
  const windowMs = Math.ceil(span / MIN_WINDOW_MS) * MIN_WINDOW_MS;
  g.textAlign = "center"; g.textBaseline = "top";
  for (let i = 0; i <= 4; i++) {
    const label = i === 0 ? "now" : "-" + ago((windowMs * i) / 4 / 1000).replace(/ 0s$/, "");
    // The end labels are aligned inwards so that neither is cut at the edge.
    g.textAlign = i === 0 ? "right" : i === 4 ? "left" : "center";
    g.fillText(label, left + pw - (pw * i) / 4, top + ph + 6);
  }
  const x = (at) => left + pw - (pw * (now - at)) / windowMs;
  const y = (v) => top + ph - (ph * v) / max;
  g.lineWidth = 1.6;
  for (const k of SERIES) {
    g.strokeStyle = css.getPropertyValue("--" + k);
    g.beginPath();
    rates.forEach((p, i) => (i === 0 ? g.moveTo(x(p.at), y(p[k])) : g.lineTo(x(p.at), y(p[k]))));
    g.stroke();
  }
}

// The event stream is read with fetch, not EventSource, so that it can carry the token the page asks for.
const TOKEN_KEY = "channel-layers-token";
async function connect() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const res = await fetch("events", { headers: token ? { authorization: "Bearer " + token } : {} });
    if (res.status === 401) {
      const given = prompt(token ? "That token was refused. The broker's token:" : "This status page needs the broker's token:");
      if (!given) { $("live").textContent = "no token"; $("live").className = "off"; return; }
      sessionStorage.setItem(TOKEN_KEY, given.trim());
      return connect();
    }
    if (!res.ok || !res.body) throw new Error(res.statusText);
    $("live").textContent = "live"; $("live").className = "on";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      for (let end = text.indexOf("\\n\\n"); end >= 0; end = text.indexOf("\\n\\n")) {
        const data = text.slice(0, end).split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
        text = text.slice(end + 2);
        if (data) render(JSON.parse(data));
      }
    }
  } catch {}
  $("live").textContent = "reconnecting"; $("live").className = "off";
  setTimeout(connect, 2000);
}
window.addEventListener("resize", () => draw(Date.now()));
connect();
</script>
</body>
</html>
`;
