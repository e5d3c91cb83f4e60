// A site's conversations: filters (visitor, dates, feedback, text) kept in the route's query so
// a filtered view can be bookmarked and reloaded, pages through the API's cursor, rows that
// open the transcript, deleting one conversation, and a visitor's data exported (JSON) or
// erased (typed confirmation, then the exact counts the API answered).
import { html, useState, useEffect } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Field, Confirm, Pager, PageHeader, useLoad, toast, fmtDate, fmtNumber,
} from '../ui.js';

const PAGE_SIZE = 25;

/** `YYYY-MM-DD` of a date input as the RFC 3339 time of that local day's start or end. */
export function dayBound(day, end) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day || '')) return undefined;
  const d = new Date(`${day}T${end ? '23:59:59.999' : '00:00:00'}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Cursor paging kept in the query: `cursor` is this page's, `back` the cursors of the pages
 * before it ('~' for the first page), so Previous works after a reload too.
 */
export function pagerProps(query, nextCursor, setQuery) {
  const back = query.back ? query.back.split('.') : [];
  return {
    hasPrev: !!query.cursor,
    hasNext: !!nextCursor,
    onNext: () => setQuery({ ...query, cursor: nextCursor, back: [...back, query.cursor || '~'].join('.') }),
    onPrev: () => {
      const prev = back.pop();
      setQuery({ ...query, cursor: prev && prev !== '~' ? prev : undefined, back: back.join('.') || undefined });
    },
  };
}

/** Scrolls the page's content to its top (after a page change). */
export function toTop() {
  const main = document.getElementById('main');
  if (main && main.scrollIntoView) main.scrollIntoView({ block: 'start' });
}

function Filters({ query, setQuery }) {
  const [form, setForm] = useState(query);
  useEffect(() => setForm(query), [query.visitor, query.from, query.to, query.feedback, query.q]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const apply = (e) => {
    e.preventDefault();
    setQuery({
      visitor: (form.visitor || '').trim(), from: form.from, to: form.to, feedback: form.feedback, q: (form.q || '').trim(),
    });
  };
  const any = query.visitor || query.from || query.to || query.feedback || query.q;
  return html`<form class="card filters-card" role="search" aria-label="Filter conversations" onSubmit=${apply}>
    <div class="filters">
      <${Field} label="Text in the messages" id="f-q">
        <input class="input" type="search" value=${form.q || ''} onInput=${set('q')} placeholder="e.g. refund" />
      <//>
      <${Field} label="Visitor" id="f-visitor">
        <input class="input" value=${form.visitor || ''} onInput=${set('visitor')} placeholder="Visitor identifier" autocomplete="off" spellcheck="false" />
      <//>
      <${Field} label="Active from" id="f-from">
        <input class="input" type="date" value=${form.from || ''} onInput=${set('from')} />
      <//>
      <${Field} label="Started until" id="f-to">
        <input class="input" type="date" value=${form.to || ''} onInput=${set('to')} />
      <//>
      <${Field} label="Feedback" id="f-feedback">
        <select class="select" value=${form.feedback || ''} onChange=${set('feedback')}>
          <option value="">All conversations</option>
          <option value="any">With any rating</option>
          <option value="up">With a 👍 rating</option>
          <option value="down">With a 👎 rating</option>
        </select>
      <//>
      <div class="filters-actions">
        <button type="submit" class="btn btn-primary">Apply filters</button>
        ${any ? html`<button type="button" class="btn btn-ghost" onClick=${() => setQuery({})}>Clear</button>` : null}
      </div>
    </div>
  </form>`;
}

function FeedbackMarks({ feedback }) {
  const { up = 0, down = 0 } = feedback || {};
  if (!up && !down) return html`<span class="muted">—</span>`;
  return html`<span class="marks">
    ${up ? html`<span class="mark-up"><span aria-hidden="true">👍</span> ${up}<span class="visually-hidden"> rated up</span></span>` : null}
    ${down ? html`<span class="mark-down"><span aria-hidden="true">👎</span> ${down}<span class="visually-hidden"> rated down</span></span>` : null}
  </span>`;
}

/** The card for one visitor: export their data, or erase it. */
function VisitorCard({ site, visitor, onErased }) {
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [erased, setErased] = useState(null);
  const path = `/api/clients/${encodeURIComponent(site.id)}/visitors/${encodeURIComponent(visitor)}`;
  useEffect(() => { setErased(null); setError(null); }, [visitor]);
  const exportData = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.download(path, `visitor-${visitor.replace(/[^\w.-]+/g, '_')}.json`);
      toast('The visitor\'s data was downloaded');
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const erase = async () => {
    const r = await api.del(path);
    setConfirm(false);
    setErased(r);
    toast('The visitor was erased');
    onErased();
  };
  return html`<section class="card" aria-labelledby="visitor-title">
    <div class="card-header">
      <div>
        <h2 id="visitor-title">Visitor <span class="visitor">${visitor}</span></h2>
        <p>Everything stored about this visitor: download it (data access request) or erase it (erasure request).</p>
      </div>
      <div class="toolbar-group">
        <button type="button" class="btn" onClick=${exportData} disabled=${busy}>${busy ? 'Preparing…' : 'Export data (JSON)'}</button>
        <button type="button" class="btn btn-danger" onClick=${() => setConfirm(true)}>Erase visitor…</button>
      </div>
    </div>
    <${ErrorBox} error=${error} retry=${exportData} />
    ${erased ? html`<div class="alert alert-ok" role="status"><div class="alert-text">
      <strong>Erased ${erased.userIdentifier}.</strong>
      <span>Deleted ${fmtNumber(erased.sessionsDeleted)} ${erased.sessionsDeleted === 1 ? 'conversation' : 'conversations'},
      ${fmtNumber(erased.messagesDeleted)} ${erased.messagesDeleted === 1 ? 'message' : 'messages'},
      ${fmtNumber(erased.filesDeleted)} ${erased.filesDeleted === 1 ? 'file' : 'files'}${erased.feedbackDeleted !== undefined
        ? html` and ${fmtNumber(erased.feedbackDeleted)} ${erased.feedbackDeleted === 1 ? 'rating' : 'ratings'}` : null}.</span>
    </div></div>` : null}
    ${confirm ? html`<${Confirm} title="Erase this visitor?" danger confirmLabel="Erase everything" typed=${visitor}
      message=${html`<p>Every conversation, message, rating and file of <strong class="visitor">${visitor}</strong> on
        ${site.name} is deleted for good, and replies in progress are stopped. This cannot be undone.</p>`}
      onConfirm=${erase} onCancel=${() => setConfirm(false)} />` : null}
  </section>`;
}

export default function Conversations({ site, route, setQuery, navigate }) {
  const q = route.query;
  const base = `#/sites/${encodeURIComponent(site.id)}`;
  useEffect(() => { document.title = `Conversations · ${site.name} · Console`; }, [site.name]);
  const [deleting, setDeleting] = useState(null);
  const load = useLoad(() => api.get(`/api/clients/${encodeURIComponent(site.id)}/sessions`, {
    userIdentifier: q.visitor,
    from: dayBound(q.from, false),
    to: dayBound(q.to, true),
    feedback: q.feedback,
    q: q.q,
    cursor: q.cursor,
    limit: PAGE_SIZE,
  }), [site.id, q.visitor, q.from, q.to, q.feedback, q.q, q.cursor]);
  const filtered = !!(q.visitor || q.from || q.to || q.feedback || q.q);
  const rows = load.data ? load.data.sessions : [];
  const pager = pagerProps(q, load.data && load.data.nextCursor, (nq) => { setQuery(nq); toTop(); });

  const remove = async () => {
    const s = deleting;
    const r = await api.del(`/api/clients/${encodeURIComponent(site.id)}/sessions/${encodeURIComponent(s.sessionId)}`);
    setDeleting(null);
    toast(`Conversation deleted (${fmtNumber(r.messagesDeleted)} ${r.messagesDeleted === 1 ? 'message' : 'messages'})`);
    load.reload();
  };

  let body;
  if (load.error) {
    body = html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  } else if (load.loading && !load.data) {
    body = html`<${Loading} label="Loading conversations…" />`;
  } else if (!rows.length && q.cursor) {
    body = html`<${Empty} title="No more conversations on this page">
      <button type="button" class="btn" onClick=${() => setQuery({ ...q, cursor: undefined, back: undefined })}>Back to the first page</button>
    <//>`;
  } else if (!rows.length && filtered) {
    body = html`<${Empty} title="No conversation matches these filters">
      <p>Try a wider date range or fewer filters.</p>
      <button type="button" class="btn" onClick=${() => setQuery({})}>Clear the filters</button>
    <//>`;
  } else if (!rows.length) {
    body = html`<${Empty} title="No conversations yet">
      <p>Conversations show here as soon as a visitor writes to the chat on your site.</p>
      <a class="btn btn-primary" href=${`${base}/install`}>Install the widget</a>
    <//>`;
  } else {
    body = html`<div class="table-wrap stack-table" aria-busy=${load.loading ? 'true' : 'false'}>
      <table class="table data-table">
        <caption class="visually-hidden">Conversations, most recent activity first</caption>
        <thead><tr>
          <th scope="col">Conversation</th><th scope="col">Visitor</th><th scope="col" class="num">Messages</th>
          <th scope="col">Feedback</th><th scope="col">Last activity</th><th scope="col" class="actions"><span class="visually-hidden">Actions</span></th>
        </tr></thead>
        <tbody>${rows.map((s) => html`<tr key=${s.sessionId}>
          <td class="conv-preview">
            <a class=${`row-link clamp-2${s.preview ? '' : ' row-link-empty'}`} href=${`${base}/conversations/${encodeURIComponent(s.sessionId)}`}>${s.preview || 'No message yet'}</a>
            ${s.hasFile ? html` <span class="badge">file</span>` : null}
          </td>
          <td><span class="cell-label">Visitor</span>${s.userIdentifier
            ? html`<a class="visitor" href=${`${base}/conversations?visitor=${encodeURIComponent(s.userIdentifier)}`}
                title="Show this visitor's conversations">${s.userIdentifier}</a>${s.verified ? html` <span class="badge badge-ok">verified</span>` : null}`
            : html`<span class="muted">anonymous</span>`}</td>
          <td class="num"><span class="cell-label">Messages</span>${fmtNumber(s.messageCount)}</td>
          <td><span class="cell-label">Feedback</span><${FeedbackMarks} feedback=${s.feedback} /></td>
          <td class="nowrap"><span class="cell-label">Last activity</span>${fmtDate(s.lastActivity)}</td>
          <td class="actions">
            <button type="button" class="btn btn-small btn-ghost btn-link-danger" onClick=${() => setDeleting(s)}
              aria-label=${`Delete the conversation “${(s.preview || s.sessionId).slice(0, 40)}”`}>Delete</button>
          </td>
        </tr>`)}</tbody>
      </table>
    </div>
    <${Pager} ...${pager} />`;
  }

  return html`<div class="page page-conversations">
    <${PageHeader} title="Conversations" subtitle=${`What visitors asked on ${site.name}, most recent first.`} />
    ${load.data && !rows.length && !filtered && !q.cursor ? null : html`<${Filters} query=${q} setQuery=${setQuery} />`}
    ${q.visitor ? html`<${VisitorCard} site=${site} visitor=${q.visitor} onErased=${load.reload} />` : null}
    ${body}
    ${deleting ? html`<${Confirm} title="Delete this conversation?" danger confirmLabel="Delete"
      message=${html`<p>The conversation${deleting.userIdentifier ? html` with <strong class="visitor">${deleting.userIdentifier}</strong>` : ''},
        its ${fmtNumber(deleting.messageCount)} messages, ratings and file are deleted for good. A reply in progress is stopped.</p>`}
      onConfirm=${remove} onCancel=${() => setDeleting(null)} />` : null}
  </div>`;
}
