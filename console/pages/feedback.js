// What visitors thought of the replies: each rating with the question it answered, the
// answer and the comment, newest first; a filter (all, up, down) in the route's query, and
// pages through the API's cursor.
import { html, useEffect } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Pager, PageHeader, useLoad, fmtDate,
} from '../ui.js';
import { pagerProps, toTop } from './conversations.js';

const PAGE_SIZE = 20;
const FILTERS = [['', 'All'], ['up', '👍 Up'], ['down', '👎 Down']];

export default function Feedback({ site, route, setQuery }) {
  const q = route.query;
  const rating = q.rating === 'up' || q.rating === 'down' ? q.rating : '';
  const base = `#/sites/${encodeURIComponent(site.id)}`;
  useEffect(() => { document.title = `Feedback · ${site.name} · Console`; }, [site.name]);
  const load = useLoad(() => api.get(`/api/clients/${encodeURIComponent(site.id)}/feedback`, {
    rating, cursor: q.cursor, limit: PAGE_SIZE,
  }), [site.id, rating, q.cursor]);
  const items = load.data ? load.data.feedback : [];
  const pager = pagerProps(q, load.data && load.data.nextCursor, (nq) => { setQuery(nq); toTop(); });

  let body;
  if (load.error) body = html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  else if (load.loading && !load.data) body = html`<${Loading} label="Loading feedback…" />`;
  else if (!items.length && rating) {
    body = html`<${Empty} title=${`No ${rating === 'up' ? '👍' : '👎'} ratings yet`}>
      <button type="button" class="btn" onClick=${() => setQuery({})}>Show all ratings</button>
    <//>`;
  } else if (!items.length) {
    body = html`<${Empty} title="No feedback yet">
      <p>Visitors rate replies with 👍 or 👎 in the chat; their ratings show here with the question and the answer.</p>
      <a class="btn" href=${`${base}/conversations`}>Read the conversations</a>
    <//>`;
  } else {
    body = html`<ol class="qa-list" aria-label="Ratings, newest first" aria-busy=${load.loading ? 'true' : 'false'}>
      ${items.map((f) => html`<li class="qa" key=${f.messageId}>
        <div class="qa-head">
          <div class="qa-head-left">
            <span class=${`badge ${f.rating === 'up' ? 'badge-ok' : 'badge-danger'}`}>
              <span aria-hidden="true">${f.rating === 'up' ? '👍' : '👎'}</span> Rated ${f.rating}
            </span>
            <span class="muted small">${fmtDate(f.createdAt)}</span>
          </div>
          <a href=${`${base}/conversations/${encodeURIComponent(f.sessionId)}`}>Open the conversation</a>
        </div>
        <dl>
          <dt>Question</dt><dd>${f.question || html`<span class="muted">—</span>`}</dd>
          <dt>Answer</dt><dd class="clamp-answer">${f.answer}</dd>
          ${f.comment ? html`<dt>Comment</dt><dd class="comment">“${f.comment}”</dd>` : null}
        </dl>
      </li>`)}
    </ol>
    <${Pager} ...${pager} />`;
  }

  return html`<div class="page page-feedback">
    <${PageHeader} title="Feedback" subtitle="Ratings of the assistant's replies, newest first." />
    <div class="toolbar">
      <div class="segmented" role="group" aria-label="Show ratings">
        ${FILTERS.map(([v, label]) => html`<button type="button" aria-pressed=${rating === v ? 'true' : 'false'}
          onClick=${() => setQuery(v ? { rating: v } : {})}>${label}</button>`)}
      </div>
    </div>
    ${body}
  </div>`;
}
