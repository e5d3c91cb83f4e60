// One conversation whole: who, when, each message with its role and time, the replies' end
// (complete, cancelled, error, interrupted), timings and tokens where the service recorded
// them, the visitor's ratings, the session's file; and deleting it (confirmed).
import { html, useState, useEffect } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Confirm, PageHeader, useLoad, toast, fmtDate, fmtNumber,
} from '../ui.js';

const STATUS = {
  complete: ['Complete', 'badge-ok'],
  cancelled: ['Cancelled', 'badge-warn'],
  error: ['Error', 'badge-danger'],
  interrupted: ['Interrupted', 'badge-danger'],
};

/** Milliseconds as "420 ms" or "2.6 s". */
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${fmtNumber(Math.round(ms))} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function Message({ m }) {
  const user = m.role === 'user';
  const status = m.role === 'assistant' ? (m.status || 'complete') : null;
  const [label, cls] = status ? STATUS[status] || [status, 'badge'] : [];
  const facts = [];
  if (m.ttftMs !== undefined) facts.push(`first token ${fmtMs(m.ttftMs)}`);
  if (m.replyMs !== undefined) facts.push(`${fmtMs(m.replyMs)} in all`);
  if (m.promptTokens !== undefined || m.completionTokens !== undefined) {
    facts.push(`${fmtNumber(m.promptTokens ?? 0)} prompt + ${fmtNumber(m.completionTokens ?? 0)} reply tokens`);
  }
  return html`<li class=${`msg ${user ? 'msg-user' : 'msg-assistant'}${status && status !== 'complete' ? ' msg-failed' : ''}`}>
    <div class="msg-head">
      <span class="msg-role">${user ? 'Visitor' : m.role === 'assistant' ? 'Assistant' : m.role}</span>
      <time datetime=${new Date(m.timestamp).toISOString()} title=${fmtDate(m.timestamp)}>${timeFmt.format(new Date(m.timestamp))}</time>
      ${status ? html`<span class=${`badge ${cls}`}>${label}</span>` : null}
    </div>
    <div class="msg-body">${m.content || html`<span class="muted">(empty)</span>`}</div>
    ${!user && (facts.length || m.model) ? html`<div class="msg-foot">
      ${m.model ? html`<span>${m.provider ? `${m.provider} · ` : ''}${m.model}</span>` : null}
      ${facts.map((f) => html`<span>${f}</span>`)}
    </div>` : null}
    ${m.feedback ? html`<div class=${`msg-feedback ${m.feedback.rating}`}>
      <span aria-hidden="true">${m.feedback.rating === 'up' ? '👍' : '👎'}</span>
      <strong> Rated ${m.feedback.rating === 'up' ? 'up' : 'down'}</strong>
      ${m.feedback.comment ? html`: “${m.feedback.comment}”` : null}
      <span class="muted"> · ${fmtDate(m.feedback.updatedAt)}</span>
    </div>` : null}
  </li>`;
}

export default function Transcript({ site, route, navigate }) {
  const sid = route.params.sessionId;
  const base = `#/sites/${encodeURIComponent(site.id)}`;
  const path = `/api/clients/${encodeURIComponent(site.id)}/sessions/${encodeURIComponent(sid)}`;
  const load = useLoad(() => api.get(path), [path]);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => { document.title = `Conversation · ${site.name} · Console`; }, [site.name]);

  const back = html`<a class="btn btn-ghost" href=${`${base}/conversations`}>← All conversations</a>`;
  if (load.error) {
    return html`<div class="page">
      <${PageHeader} title="Conversation" actions=${back} />
      ${load.error.status === 404
        ? html`<${Empty} title="This conversation does not exist (any more)">
            <p>It may have been deleted, erased with its visitor, or removed by the retention setting.</p>
            <a class="btn btn-primary" href=${`${base}/conversations`}>See all conversations</a>
          <//>`
        : html`<${ErrorBox} error=${load.error} retry=${load.reload} />`}
    </div>`;
  }
  if (!load.data) return html`<div class="page"><${PageHeader} title="Conversation" actions=${back} /><${Loading} label="Loading the conversation…" /></div>`;
  const t = load.data;
  const visitor = t.user_identifier ?? t.userIdentifier ?? null;
  const remove = async () => {
    const r = await api.del(path);
    setConfirm(false);
    toast(`Conversation deleted (${fmtNumber(r.messagesDeleted)} ${r.messagesDeleted === 1 ? 'message' : 'messages'})`);
    navigate(`${base}/conversations`);
  };
  const provider = t.config && (t.config.aiProvider || t.config.model)
    ? [t.config.aiProvider, t.config.model].filter(Boolean).join(' · ') : null;

  return html`<div class="page page-transcript">
    <${PageHeader} title="Conversation"
      subtitle=${`Started ${fmtDate(t.createdAt)}`}
      actions=${html`${back}<button type="button" class="btn btn-danger" onClick=${() => setConfirm(true)}>Delete…</button>`} />
    <section class="card" aria-label="About this conversation">
      <dl class="transcript-meta">
        <div><dt>Visitor</dt><dd>${visitor
          ? html`<a class="visitor" href=${`${base}/conversations?visitor=${encodeURIComponent(visitor)}`}>${visitor}</a>
              ${t.verified ? html` <span class="badge badge-ok">verified</span>` : null}`
          : html`<span class="muted">anonymous</span>`}</dd></div>
        <div><dt>Messages</dt><dd>${fmtNumber(t.messageCount)}</dd></div>
        <div><dt>Feedback</dt><dd>
          ${t.feedback && (t.feedback.up || t.feedback.down)
            ? html`<span class="mark-up">👍 ${t.feedback.up}</span> · <span class="mark-down">👎 ${t.feedback.down}</span>`
            : html`<span class="muted">no ratings</span>`}</dd></div>
        <div><dt>Last activity</dt><dd>${fmtDate(t.lastActivity)}</dd></div>
        ${provider ? html`<div><dt>AI</dt><dd>${provider}</dd></div>` : null}
        <div><dt>Session</dt><dd class="mono small">${t.sessionId}</dd></div>
      </dl>
      ${t.file ? html`<div class="file-box">
        <strong>File:</strong> <span>${t.file.name}</span>
        <span class="muted">${t.file.kind ? `${t.file.kind}, ` : ''}${fmtNumber(t.file.size)} bytes, uploaded ${fmtDate(t.file.uploadedAt)}</span>
      </div>` : null}
    </section>
    ${t.messages.length
      ? html`<ol class="thread" aria-label="Messages, oldest first">${t.messages.map((m) => html`<${Message} key=${m.id} m=${m} />`)}</ol>`
      : html`<${Empty} title="No messages in this conversation">
          <p>The visitor opened the chat but has not written yet.</p>
        <//>`}
    ${confirm ? html`<${Confirm} title="Delete this conversation?" danger confirmLabel="Delete"
      message=${html`<p>Its ${fmtNumber(t.messageCount)} messages, ratings and file are deleted for good. A reply in progress is stopped.</p>`}
      onConfirm=${remove} onCancel=${() => setConfirm(false)} />` : null}
  </div>`;
}
