import { createHash } from 'node:crypto';

/**
 * The emulator's live page, served at `/_emulator/`: plain HTML and one small inline script that polls
 * the admin routes. It holds no data and no token: it asks for the token (or reads it from the URL's
 * `#token=` fragment, which browsers never send to the server) and keeps it in sessionStorage. Every
 * value is written with `textContent`, so a workbook name cannot inject markup.
 */

const SCRIPT = `
'use strict';
const $ = (id) => document.getElementById(id);
const tokenField = $('token');
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('emulator-token', fromHash);
  history.replaceState(null, '', location.pathname);
}
tokenField.value = sessionStorage.getItem('emulator-token') || '';
tokenField.addEventListener('change', () => {
  sessionStorage.setItem('emulator-token', tokenField.value.trim());
  lastSeq = 0;
  $('timeline').replaceChildren();
  tick();
});
let lastSeq = 0;
const MAX_ROWS = 300;

async function get(path) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + tokenField.value.trim() } });
  if (res.status === 401) throw new Error('the token was refused: paste the one the emulator printed');
  if (!res.ok) throw new Error(path + ' answered ' + res.status);
  return res.json();
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
}

function seconds(ms) {
  return ms > 0 ? (ms / 1000).toFixed(1) + ' s' : '';
}

function showWorkbooks(workbooks) {
  const body = $('workbooks');
  body.replaceChildren();
  for (const w of workbooks) {
    const row = document.createElement('tr');
    row.dataset.workbook = w.workbook;
    cell(row, w.workbook, 'path');
    cell(row, w.openSessions, 'open');
    cell(row, w.inFlight, 'in-flight');
    cell(row, seconds(w.cooldownMs), 'cooldown');
    body.appendChild(row);
  }
  $('no-workbooks').hidden = workbooks.length > 0;
}

function describeEvent(e) {
  switch (e.type) {
    case 'call': return e.method + ' ' + e.route + ' \\u2192 ' + (e.status === undefined ? 'dropped' : e.status);
    case 'create': return 'session ' + e.session + ' created';
    case 'close': return 'session ' + e.session + ' closed';
    case 'expire': return 'session ' + e.session + ' expired';
    case 'fault': return 'fault on ' + e.route + ': ' + e.detail;
    case 'cooldown': return 'cooldown ' + seconds(e.ms) + ' (Retry-After: ' + e.detail + ')';
    default: return e.type;
  }
}

function showEvents(events) {
  const list = $('timeline');
  for (const e of events) {
    const row = document.createElement('tr');
    row.className = 'event ' + e.type;
    const at = new Date(e.at);
    cell(row, at.toTimeString().slice(0, 8) + '.' + String(at.getMilliseconds()).padStart(3, '0'), 'time');
    cell(row, e.type, 'type');
    cell(row, e.workbook || '', 'path');
    cell(row, describeEvent(e), 'what');
    list.insertBefore(row, list.firstChild);
  }
  while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
}

let busy = false;
async function tick() {
  if (busy || tokenField.value.trim() === '') {
    if (!busy) $('status').textContent = 'Enter the emulator token to connect.';
    return;
  }
  busy = true;
  try {
    const [stats, workbooks, events] = await Promise.all([
      get('stats'), get('workbooks'), get('events?after=' + lastSeq),
    ]);
    $('open-sessions').textContent = String(stats.open);
    $('in-flight').textContent = String(stats.inFlight);
    $('created').textContent = String(stats.created);
    $('closed').textContent = String(stats.closed);
    $('expired').textContent = String(stats.expired);
    $('faults').textContent = String(stats.faultsInjected);
    $('requests').textContent = String(stats.requests);
    $('cooldowns').textContent = String(workbooks.filter((w) => w.cooldownMs > 0).length);
    showWorkbooks(workbooks);
    showEvents(events.events);
    lastSeq = events.last;
    $('status').textContent = 'Live: updated ' + new Date().toLocaleTimeString();
    document.body.dataset.state = 'live';
  } catch (error) {
    $('status').textContent = 'Not connected: ' + error.message;
    document.body.dataset.state = 'error';
  } finally {
    busy = false;
  }
}
tick();
setInterval(tick, 500);
`;

/** The Content-Security-Policy the page is served with: its own script only, requests to its own origin only. */
export const ADMIN_PAGE_CSP =
  `default-src 'none'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; ` +
  "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const ADMIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Workbook emulator</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
  h1 { font-size: 1.3rem; margin: 0 0 0.5rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
  #status { color: #555; margin: 0.5rem 0 1rem; }
  body[data-state='error'] #status { color: #b00020; }
  .counts { display: flex; flex-wrap: wrap; gap: 0.75rem; }
  .counts div { border: 1px solid #ddd; border-radius: 6px; padding: 0.4rem 0.8rem; min-width: 7rem; }
  .counts strong { display: block; font-size: 1.4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; }
  td.path { font-family: ui-monospace, monospace; font-size: 12px; }
  tr.fault td, tr.cooldown td { color: #b00020; }
  tr.create td, tr.close td, tr.expire td { font-weight: 600; }
  tr.call td { color: #555; }
</style>
</head>
<body>
<h1>Workbook emulator</h1>
<label>Token <input id="token" type="password" size="50" autocomplete="off"
  placeholder="the token the emulator printed"></label>
<div id="status">Starting…</div>
<div class="counts">
  <div>Sessions open<strong id="open-sessions">–</strong></div>
  <div>Requests in flight<strong id="in-flight">–</strong></div>
  <div>Cooldowns running<strong id="cooldowns">–</strong></div>
  <div>Created<strong id="created">–</strong></div>
  <div>Closed<strong id="closed">–</strong></div>
  <div>Expired<strong id="expired">–</strong></div>
  <div>Faults<strong id="faults">–</strong></div>
  <div>Requests<strong id="requests">–</strong></div>
</div>
<h2>Workbooks</h2>
<table>
  <thead><tr><th>Workbook</th><th>Sessions open</th><th>In flight</th><th>Cooldown left</th></tr></thead>
  <tbody id="workbooks"></tbody>
</table>
<p id="no-workbooks" hidden>No workbooks.</p>
<h2>Timeline <small>(newest first)</small></h2>
<table>
  <thead><tr><th>Time</th><th>Event</th><th>Workbook</th><th>What</th></tr></thead>
  <tbody id="timeline"></tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;
