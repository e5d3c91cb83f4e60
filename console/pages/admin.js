// The staff's pages (prop `tab`): the dashboard's counts, users (search, status filter,
// approve, disable, enable), every client, and the service's health. The API answers 403 to
// anyone else; the page then says so plainly (the shell also hides the entry from them).
import { html, useState, useEffect } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Field, Confirm, Pager, PageHeader, useLoad, toast, fmtDate, fmtNumber,
} from '../ui.js';
import { pagerProps, toTop } from './conversations.js';
import { listOf } from './webhooks.js';

const TABS = [['dashboard', 'Dashboard', '#/admin'], ['users', 'Users', '#/admin/users'],
  ['clients', 'Clients', '#/admin/clients'], ['health', 'Health', '#/admin/health']];

/** `repliesInFlight` → "Replies in flight". */
export function humanize(key) {
  const words = String(key)
    .replace(/(Ms|Secs|Seconds)$/, '') // the value says its unit
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([a-z]{2,})(\d)/g, '$1 $2').replace(/[_-]+/g, ' ')
    .toLowerCase();
  return (words.charAt(0).toUpperCase() + words.slice(1))
    .replace(/\b(id|ai|db|ok|ttft|url)\b/gi, (w) => w.toUpperCase());
}

const isTime = (k, v) => typeof v === 'string' && /(At|Time|^at)$/.test(k) && !Number.isNaN(Date.parse(v));

/** A value of any shape as words: numbers grouped, booleans as yes/no, lists joined. */
function Value({ k, v }) {
  if (v === null || v === undefined) return html`<span class="muted">—</span>`;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') {
    if (/rate|ratio/i.test(k) && v <= 1) return `${(v * 100).toFixed(1)} %`;
    if (/Ms$/.test(k)) return `${fmtNumber(v)} ms`;
    if (/(Secs|Seconds)$/.test(k)) return duration(v);
    return fmtNumber(v);
  }
  if (isTime(k, v)) return fmtDate(v);
  if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : html`<span class="muted">none</span>`;
  if (typeof v === 'object') return html`<${KV} data=${v} />`;
  return String(v);
}

function duration(secs) {
  const s = Math.floor(secs);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [d ? `${d} d` : '', h ? `${h} h` : '', `${m} min`].filter(Boolean).join(' ');
}

function KV({ data }) {
  return html`<dl class="kv">${Object.entries(data).map(([k, v]) => html`<dt key=${`t${k}`}>${humanize(k)}</dt><dd key=${`d${k}`}><${Value} k=${k} v=${v} /></dd>`)}</dl>`;
}

function Refused() {
  return html`<div class="refused">
    <${Empty} title="Staff only">
      <p>These pages are for the service's staff, and your account is not staff.</p>
      <a class="btn btn-primary" href="#/sites">Back to your sites</a>
    <//>
  </div>`;
}

/** The API's answer, or the refusal page on 403, or the error with a retry. */
function Loaded({ load, label, children }) {
  if (load.error && load.error.status === 403) return html`<${Refused} />`;
  if (load.error) return html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  if (!load.data) return html`<${Loading} label=${label} />`;
  return children(load.data);
}

function Dashboard() {
  const load = useLoad(() => api.get('/api/admin/dashboard'), []);
  return html`<${Loaded} load=${load} label="Loading the dashboard…">${(d) => {
    const shown = Object.entries(d).filter(([k]) => k !== 'timestamp');
    const groups = shown.filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v));
    const flat = shown.filter(([, v]) => !(v && typeof v === 'object' && !Array.isArray(v)));
    return html`
      ${flat.length ? html`<div class="stats">${flat.map(([k, v]) => html`<div class="stat" key=${k}>
        <div class="stat-label">${humanize(k)}</div><div class="stat-value"><${Value} k=${k} v=${v} /></div></div>`)}</div>` : null}
      <div class="charts">${groups.map(([k, v]) => html`<section class="card" key=${k} aria-labelledby=${`dash-${k}`}>
        <div class="card-header"><h2 id=${`dash-${k}`}>${humanize(k)}</h2></div>
        <${KV} data=${v} />
      </section>`)}</div>`;
  }}<//>`;
}

const STATUS_FILTERS = [['', 'All'], ['pending', 'Pending'], ['active', 'Active'], ['disabled', 'Disabled']];
const statusBadge = (s) => ({ active: 'badge-ok', pending: 'badge-warn', disabled: 'badge-danger' }[s] || '');

function Users({ route, setQuery, me }) {
  const q = route.query;
  const [text, setText] = useState(q.q || '');
  useEffect(() => setText(q.q || ''), [q.q]);
  const load = useLoad(() => api.get('/api/admin/users', { q: q.q, status: q.status, cursor: q.cursor }), [q.q, q.status, q.cursor]);
  const [confirm, setConfirm] = useState(null);
  const act = async (user, action) => {
    const u = await api.post(`/api/admin/users/${encodeURIComponent(user.id)}/${action}`);
    setConfirm(null);
    toast(`${(u && u.email) || user.email}: ${action === 'approve' ? 'approved' : action === 'disable' ? 'disabled' : 'enabled'}`);
    load.reload();
  };
  const run = (user, action) => act(user, action).catch((e) => toast(e.message, 'error'));
  const search = (e) => { e.preventDefault(); setQuery({ q: text.trim(), status: q.status }); };
  const users = listOf(load.data, 'users');
  const pager = pagerProps(q, load.data && load.data.nextCursor, (nq) => { setQuery(nq); toTop(); });
  return html`
    <div class="toolbar">
      <form class="toolbar-group search-form" role="search" aria-label="Search users" onSubmit=${search}>
        <label class="visually-hidden" for="user-q">Search users by email or name</label>
        <input id="user-q" class="input" type="search" placeholder="Email or name" value=${text} onInput=${(e) => setText(e.target.value)} />
        <button type="submit" class="btn">Search</button>
      </form>
      <div class="segmented" role="group" aria-label="Status">
        ${STATUS_FILTERS.map(([v, label]) => html`<button type="button" aria-pressed=${(q.status || '') === v ? 'true' : 'false'}
          onClick=${() => setQuery({ q: q.q, status: v })}>${label}</button>`)}
      </div>
    </div>
    <${Loaded} load=${load} label="Loading users…">${() => (users.length ? html`
      <div class="table-wrap stack-table"><table class="table data-table">
        <caption class="visually-hidden">Users</caption>
        <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Joined</th>
          <th scope="col" class="actions"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>${users.map((u) => html`<tr key=${u.id}>
          <td><strong>${u.email}</strong>${me && u.id === me.id ? html` <span class="muted small">(you)</span>` : null}${u.name ? html`<div class="muted small">${u.name}</div>` : null}</td>
          <td><span class="cell-label">Role</span>${u.role === 'staff' ? html`<span class="badge badge-accent">staff</span>` : 'user'}</td>
          <td><span class="cell-label">Status</span><span class=${`badge ${statusBadge(u.status)}`}>${u.status || '—'}</span></td>
          <td class="nowrap"><span class="cell-label">Joined</span>${fmtDate(u.createdAt)}</td>
          <td class="actions">
            ${u.status === 'pending' ? html`<button type="button" class="btn btn-small btn-primary" onClick=${() => run(u, 'approve')}
              aria-label=${`Approve ${u.email}`}>Approve</button>` : null}
            ${u.status === 'disabled' ? html`<button type="button" class="btn btn-small" onClick=${() => run(u, 'enable')}
              aria-label=${`Enable ${u.email}`}>Enable</button>` : null}
            ${u.status !== 'disabled' && (!me || u.id !== me.id) ? html` <button type="button" class="btn btn-small btn-ghost btn-link-danger"
              onClick=${() => setConfirm(u)} aria-label=${`Disable ${u.email}`}>Disable</button>` : null}
          </td>
        </tr>`)}</tbody>
      </table></div>
      <${Pager} ...${pager} />`
      : html`<${Empty} title=${q.status === 'pending' && !q.q ? 'Nobody is awaiting approval' : q.q || q.status ? 'No user matches' : 'No users yet'}>
          ${q.q || q.status ? html`<button type="button" class="btn" onClick=${() => setQuery({})}>Show all users</button>` : null}
        <//>`)}<//>
    ${confirm ? html`<${Confirm} title=${`Disable ${confirm.email}?`} danger confirmLabel="Disable"
      message=${html`<p>They are signed out at once and cannot sign in; their sites' keys answer 403 until you enable the account again.</p>`}
      onConfirm=${() => act(confirm, 'disable')} onCancel=${() => setConfirm(null)} />` : null}`;
}

function ownerOf(c) {
  if (c.owner && typeof c.owner === 'object') return c.owner.email || c.owner.id;
  return c.ownerEmail || c.owner || null;
}

function Clients({ route, setQuery }) {
  const q = route.query;
  const load = useLoad(() => api.get('/api/admin/clients', { cursor: q.cursor }), [q.cursor]);
  const clients = listOf(load.data, 'clients');
  const pager = pagerProps(q, load.data && load.data.nextCursor, (nq) => { setQuery(nq); toTop(); });
  const num = (c, ...keys) => { for (const k of keys) if (c[k] !== undefined) return c[k]; return null; };
  return html`<${Loaded} load=${load} label="Loading clients…">${() => (clients.length ? html`
    <div class="table-wrap stack-table"><table class="table data-table">
      <caption class="visually-hidden">Every client</caption>
      <thead><tr><th scope="col">Client</th><th scope="col">Owner</th><th scope="col" class="num">Keys</th>
        <th scope="col" class="num">Sessions, 7 days</th><th scope="col" class="num">Replies, 7 days</th><th scope="col">Created</th></tr></thead>
      <tbody>${clients.map((c) => html`<tr key=${c.id}>
        <td><strong>${c.name}</strong>${c.disabled ? html` <span class="badge badge-danger">disabled</span>` : null}<div class="muted small mono">${c.id}</div></td>
        <td><span class="cell-label">Owner</span>${ownerOf(c) || html`<span class="muted">none (CLI)</span>`}</td>
        <td class="num"><span class="cell-label">Keys</span>${fmtNumber(num(c, 'keyCount', 'keys'))}</td>
        <td class="num"><span class="cell-label">Sessions, 7 days</span>${fmtNumber(num(c, 'sessions7Days', 'sessions7d', 'sessions'))}</td>
        <td class="num"><span class="cell-label">Replies, 7 days</span>${fmtNumber(num(c, 'replies7Days', 'replies7d', 'replies'))}</td>
        <td class="nowrap"><span class="cell-label">Created</span>${fmtDate(c.createdAt)}</td>
      </tr>`)}</tbody>
    </table></div>
    <${Pager} ...${pager} />`
    : html`<${Empty} title="No clients yet"><p>Clients appear here when users create sites.</p><//>`)}<//>`;
}

function Health() {
  const load = useLoad(() => api.get('/api/admin/health'), []);
  return html`<${Loaded} load=${load} label="Checking the service…">${(h) => html`
    <section class="card" aria-labelledby="health-title">
      <div class="card-header">
        <div><h2 id="health-title">This instance</h2><p>As it answered just now.</p></div>
        <button type="button" class="btn btn-small" onClick=${load.reload}>Check again</button>
      </div>
      <${KV} data=${h} />
    </section>`}<//>`;
}

export default function Admin({ tab = 'dashboard', route, setQuery, user }) {
  const current = TABS.find(([t]) => t === tab) || TABS[0];
  useEffect(() => { document.title = `${current[1]} · Admin · Console`; }, [current[1]]);
  if (user && user.role && user.role !== 'staff') {
    return html`<div class="page page-admin"><${Refused} /></div>`;
  }
  return html`<div class="page page-admin">
    <${PageHeader} title="Admin" subtitle="The whole service, for its staff." />
    <nav class="tabs" aria-label="Admin sections">
      ${TABS.map(([t, label, href]) => html`<a class="tab" href=${href} aria-current=${t === current[0] ? 'page' : undefined}>${label}</a>`)}
    </nav>
    ${current[0] === 'dashboard' ? html`<${Dashboard} />` : null}
    ${current[0] === 'users' ? html`<${Users} route=${route} setQuery=${setQuery} me=${user} />` : null}
    ${current[0] === 'clients' ? html`<${Clients} route=${route} setQuery=${setQuery} />` : null}
    ${current[0] === 'health' ? html`<${Health} />` : null}
  </div>`;
}
