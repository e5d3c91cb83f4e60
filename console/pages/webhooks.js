// A site's webhooks: create one (a URL and the events it wants; its signing secret is shown
// once, with a copy button), list them, read one's latest deliveries, delete (confirmed).
import { html, useState, useEffect } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Field, Confirm, CopyButton, PageHeader, useLoad, toast, fmtDate, fmtNumber,
} from '../ui.js';

export const EVENTS = [
  ['session.created', 'A conversation starts'],
  ['message.created', 'A visitor sends a message'],
  ['reply.completed', 'A reply ends (with its status, usage and timings)'],
  ['feedback.created', 'A visitor rates a reply'],
  ['visitor.erased', 'A visitor\'s data is erased'],
];

/** The list out of an answer that may be a bare array or `{key: [...]}`. */
export function listOf(answer, key) {
  if (Array.isArray(answer)) return answer;
  if (answer && Array.isArray(answer[key])) return answer[key];
  if (answer && Array.isArray(answer.items)) return answer.items;
  return [];
}

function CreateForm({ site, onCreated, onCancel }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState(() => new Set(['reply.completed', 'feedback.created']));
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const toggle = (e) => {
    const next = new Set(events);
    if (next.has(e)) next.delete(e); else next.add(e);
    setEvents(next);
  };
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await api.post(`/api/clients/${encodeURIComponent(site.id)}/webhooks`, {
        url: url.trim(), events: EVENTS.map(([e]) => e).filter((e) => events.has(e)),
      });
      onCreated(made);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const fieldErr = error && error.detail && typeof error.detail === 'object' ? error.detail.field : null;
  return html`<form class="card" aria-labelledby="new-hook" onSubmit=${submit}>
    <div class="card-header"><div><h2 id="new-hook">New webhook</h2>
      <p>The service POSTs each event as JSON to this URL, signed with the webhook's secret (header <code>Chatbot-Signature</code>).</p></div></div>
    <${Field} label="Endpoint URL" id="hook-url" hint="An https:// address of your server that answers 2xx; failed deliveries are retried for 24 hours."
      error=${fieldErr === 'url' ? error.message : null}>
      <input class="input" type="url" required placeholder="https://example.com/hooks/chatbot" value=${url}
        onInput=${(e) => setUrl(e.target.value)} autocomplete="off" spellcheck="false" />
    <//>
    <fieldset>
      <legend>Events</legend>
      <div class="events-grid">
        ${EVENTS.map(([e, label]) => html`<label class="checkbox" key=${e}>
          <input type="checkbox" checked=${events.has(e)} onChange=${() => toggle(e)} />
          <span><code>${e}</code><small>${label}</small></span>
        </label>`)}
      </div>
    </fieldset>
    ${fieldErr === 'url' ? null : html`<${ErrorBox} error=${error} />`}
    <div class="card-footer">
      <button type="button" class="btn" onClick=${onCancel}>Cancel</button>
      <button type="submit" class="btn btn-primary" disabled=${busy || !url.trim() || !events.size}>${busy ? 'Creating…' : 'Create webhook'}</button>
    </div>
  </form>`;
}

function Deliveries({ site, hook }) {
  const load = useLoad(() => api.get(`/api/clients/${encodeURIComponent(site.id)}/webhooks/${encodeURIComponent(hook.id)}/deliveries`), [hook.id]);
  const rows = listOf(load.data, 'deliveries');
  if (load.error) return html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  if (load.loading && !load.data) return html`<${Loading} label="Loading deliveries…" />`;
  if (!rows.length) return html`<p class="muted">No deliveries yet: they show here once one of its events happens.</p>`;
  return html`<div class="deliveries">
    <div class="table-wrap stack-table"><table class="table data-table">
      <caption class="visually-hidden">Latest deliveries of ${hook.url}</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">Created</th><th scope="col" class="num">Attempts</th>
        <th scope="col">Last status</th><th scope="col">Next try</th></tr></thead>
      <tbody>${rows.map((d, i) => {
        const type = d.event || d.type || d.eventType;
        const status = d.lastStatus ?? d.status ?? null;
        const delivered = d.deliveredAt || (status >= 200 && status < 300);
        return html`<tr key=${d.id || d.eventId || i}>
          <td><span class="cell-label">Event</span><code>${typeof type === 'string' ? type : '—'}</code></td>
          <td class="nowrap"><span class="cell-label">Created</span>${fmtDate(d.createdAt)}</td>
          <td class="num"><span class="cell-label">Attempts</span>${fmtNumber(d.attempts)}</td>
          <td><span class="cell-label">Last status</span>${status === null
            ? html`<span class="muted">${d.lastError || 'not tried yet'}</span>`
            : html`<span class=${`badge ${delivered ? 'badge-ok' : 'badge-danger'}`}>${status}</span>${d.lastError ? html` <span class="muted small">${d.lastError}</span>` : null}`}</td>
          <td class="nowrap"><span class="cell-label">Next try</span>${d.nextAttemptAt || d.nextTryAt ? fmtDate(d.nextAttemptAt || d.nextTryAt) : html`<span class="muted">${delivered ? 'delivered' : '—'}</span>`}</td>
        </tr>`;
      })}</tbody>
    </table></div>
    <button type="button" class="btn btn-small" onClick=${load.reload}>Refresh deliveries</button>
  </div>`;
}

export default function Webhooks({ site }) {
  const path = `/api/clients/${encodeURIComponent(site.id)}/webhooks`;
  useEffect(() => { document.title = `Webhooks · ${site.name} · Console`; }, [site.name]);
  const load = useLoad(() => api.get(path), [path]);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState(null);
  const [open, setOpen] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const hooks = listOf(load.data, 'webhooks');

  const created = (made) => {
    setCreating(false);
    setSecret(made);
    toast('Webhook created');
    load.reload();
  };
  const remove = async () => {
    await api.del(`${path}/${encodeURIComponent(deleting.id)}`);
    if (open === deleting.id) setOpen(null);
    setDeleting(null);
    toast('Webhook deleted');
    load.reload();
  };

  let body;
  if (load.error) body = html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  else if (load.loading && !load.data) body = html`<${Loading} label="Loading webhooks…" />`;
  else if (!hooks.length) {
    body = creating ? null : html`<${Empty} title="No webhooks yet">
      <p>Send conversations, replies and ratings to your own systems (a CRM, Slack, a data warehouse) as they happen.</p>
      <button type="button" class="btn btn-primary" onClick=${() => setCreating(true)}>Create a webhook</button>
    <//>`;
  } else {
    body = html`<ul class="qa-list" aria-label="Webhooks">${hooks.map((h) => html`<li class="qa" key=${h.id}>
      <div class="qa-head">
        <div class="qa-head-left"><span class="hook-url">${h.url}</span></div>
        <div class="toolbar-group">
          <button type="button" class="btn btn-small" aria-expanded=${open === h.id ? 'true' : 'false'}
            onClick=${() => setOpen(open === h.id ? null : h.id)}>${open === h.id ? 'Hide deliveries' : 'Deliveries'}</button>
          <button type="button" class="btn btn-small btn-ghost btn-link-danger" onClick=${() => setDeleting(h)}
            aria-label=${`Delete the webhook ${h.url}`}>Delete</button>
        </div>
      </div>
      <div class="marks">${(h.events || []).map((e) => html`<span class="badge badge-accent" key=${e}>${e}</span>`)}</div>
      ${h.createdAt ? html`<p class="muted small">Created ${fmtDate(h.createdAt)}</p>` : null}
      ${open === h.id ? html`<${Deliveries} site=${site} hook=${h} />` : null}
    </li>`)}</ul>`;
  }

  return html`<div class="page page-webhooks">
    <${PageHeader} title="Webhooks" subtitle="Events of this site sent to your servers as they happen."
      actions=${!creating && hooks.length ? html`<button type="button" class="btn btn-primary" onClick=${() => setCreating(true)}>New webhook</button>` : null} />
    ${secret ? html`<section class="card" aria-labelledby="hook-secret">
      <div class="card-header"><div><h2 id="hook-secret">The webhook's signing secret</h2>
        <p>Copy it now: it is shown only this once. Check each delivery's <code>Chatbot-Signature</code> with it.</p></div></div>
      <div class="secret-box"><code>${secret.secret}</code><${CopyButton} text=${secret.secret} label="Copy secret" /></div>
      <div class="card-footer"><button type="button" class="btn" onClick=${() => setSecret(null)}>I have saved it</button></div>
    </section>` : null}
    ${creating ? html`<${CreateForm} site=${site} onCreated=${created} onCancel=${() => setCreating(false)} />` : null}
    ${body}
    ${deleting ? html`<${Confirm} title="Delete this webhook?" danger confirmLabel="Delete"
      message=${html`<p><span class="hook-url">${deleting.url}</span> gets no more events, and deliveries not yet made are dropped.</p>`}
      onConfirm=${remove} onCancel=${() => setDeleting(null)} />` : null}
  </div>`;
}
