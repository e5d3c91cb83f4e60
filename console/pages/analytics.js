// A site's numbers over a chosen range (7, 30, 90 days or custom dates; by day or by hour,
// UTC as the API buckets them): totals, then charts of messages and replies, time to first
// token (p50, p95), tokens and feedback, the by-model table, and every bucket as a table.
import { html, useState, useEffect, useMemo } from '../lib.js';
import { api } from '../api.js';
import {
  Loading, Empty, ErrorBox, Field, PageHeader, useLoad, fmtNumber,
} from '../ui.js';
import { Chart, Stat } from './charts.js';
import { fmtMs } from './transcript.js';

const DAY = 86_400_000;
const RANGES = [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['custom', 'Custom']];
const MAX_HOUR_DAYS = 90;

const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });
const longFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

const isDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || '');
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/** The range the query asks for: {from, to} in Unix ms (UTC days), or {error}. */
export function rangeOf(query, now = Date.now()) {
  const range = RANGES.some(([v]) => v === query.range) ? query.range : '30';
  if (range === 'custom') {
    if (!isDay(query.from) || !isDay(query.to)) return { range, error: 'Choose the first and the last day.' };
    const from = Date.parse(`${query.from}T00:00:00Z`);
    const to = Date.parse(`${query.to}T00:00:00Z`) + DAY;
    if (!(from < to)) return { range, error: 'The first day must not be after the last day.' };
    return { range, from, to: Math.min(to, Math.max(now, from + 1)) };
  }
  const days = Number(range);
  const today = Math.floor(now / DAY) * DAY;
  return { range, from: today - (days - 1) * DAY, to: now };
}

const pct = (up, down) => (up + down ? `${Math.round((100 * up) / (up + down))} %` : '—');

function RangePicker({ query, setQuery, span }) {
  const r = rangeOf(query);
  const interval = query.interval === 'hour' ? 'hour' : 'day';
  const [from, setFrom] = useState(query.from || isoDay(Date.now() - 13 * DAY));
  const [to, setTo] = useState(query.to || isoDay(Date.now()));
  useEffect(() => { if (query.from) setFrom(query.from); if (query.to) setTo(query.to); }, [query.from, query.to]);
  const pick = (range) => setQuery(range === 'custom'
    ? { range, from, to, interval }
    : { range, interval: interval === 'hour' && Number(range) > MAX_HOUR_DAYS ? 'day' : interval });
  const hourOk = span <= MAX_HOUR_DAYS * DAY;
  return html`<div class="toolbar">
    <div class="toolbar-group">
      <div class="segmented" role="group" aria-label="Range">
        ${RANGES.map(([v, label]) => html`<button type="button" aria-pressed=${r.range === v ? 'true' : 'false'} onClick=${() => pick(v)}>${label}</button>`)}
      </div>
      <div class="segmented" role="group" aria-label="Interval">
        <button type="button" aria-pressed=${interval === 'day' ? 'true' : 'false'} onClick=${() => setQuery({ ...query, interval: 'day' })}>By day</button>
        <button type="button" aria-pressed=${interval === 'hour' ? 'true' : 'false'} disabled=${!hourOk}
          title=${hourOk ? undefined : `By hour works for at most ${MAX_HOUR_DAYS} days`}
          onClick=${() => setQuery({ ...query, interval: 'hour' })}>By hour</button>
      </div>
    </div>
    ${r.range === 'custom' ? html`<form class="range-custom" onSubmit=${(e) => { e.preventDefault(); setQuery({ range: 'custom', from, to, interval }); }}>
      <${Field} label="First day (UTC)" id="range-from"><input class="input" type="date" value=${from} onInput=${(e) => setFrom(e.target.value)} /><//>
      <${Field} label="Last day (UTC)" id="range-to"><input class="input" type="date" value=${to} onInput=${(e) => setTo(e.target.value)} /><//>
      <button type="submit" class="btn btn-primary">Show</button>
    </form>` : null}
  </div>`;
}

function ChartCard({ title, note, children }) {
  return html`<section class="card" aria-label=${title}>
    <div class="card-header"><div><h2>${title}</h2>${note ? html`<p>${note}</p>` : null}</div></div>
    ${children}
  </section>`;
}

/** "X in all, most on D (n)": the words a chart's image gets. */
function sums(name, values, labels) {
  let best = -1;
  values.forEach((v, i) => { if ((v || 0) > (values[best] || 0)) best = i; });
  const total = values.reduce((a, v) => a + (v || 0), 0);
  return `${name}: ${fmtNumber(total)} in all${best >= 0 && values[best] ? `, most on ${labels[best]} (${fmtNumber(values[best])})` : ''}`;
}

function Report({ data }) {
  const hourly = data.interval === 'hour';
  const { labels, tips } = useMemo(() => {
    const l = [];
    const t = [];
    for (const p of data.series) {
      const d = new Date(p.start);
      l.push(hourly ? (d.getUTCHours() === 0 ? dayFmt.format(d) : hourFmt.format(d)) : dayFmt.format(d));
      t.push(hourly ? `${dayFmt.format(d)}, ${hourFmt.format(d)} UTC` : longFmt.format(d));
    }
    return { labels: l, tips: t };
  }, [data]);
  const s = data.series;
  const col = (k) => s.map((p) => p[k]);
  const tot = data.totals;
  const per = hourly ? 'an hour' : 'a day';
  const msgs = col('userMessages');
  const reps = col('replies');
  const p50 = col('ttftMsP50');
  const p95 = col('ttftMsP95');
  const prompt = col('promptTokens');
  const completion = col('completionTokens');
  const up = col('feedbackUp');
  const down = col('feedbackDown');
  const noData = !tot.sessions && !tot.userMessages && !tot.replies && !tot.feedbackUp && !tot.feedbackDown;

  return html`
    <div class="stats" aria-label="Totals of the range">
      <${Stat} label="Conversations" value=${fmtNumber(tot.sessions)} note=${`${fmtNumber(tot.visitors)} identified ${tot.visitors === 1 ? 'visitor' : 'visitors'}`} />
      <${Stat} label="Visitor messages" value=${fmtNumber(tot.userMessages)} />
      <${Stat} label="Replies" value=${fmtNumber(tot.replies)}
        note=${tot.repliesFailed || tot.repliesCancelled ? `${fmtNumber(tot.repliesFailed)} failed, ${fmtNumber(tot.repliesCancelled)} cancelled` : 'none failed'} />
      <${Stat} label="First token p50" value=${fmtMs(tot.ttftMsP50)} note=${`p95 ${fmtMs(tot.ttftMsP95)}`} />
      <${Stat} label="Tokens" value=${fmtNumber(tot.promptTokens + tot.completionTokens)}
        note=${`${fmtNumber(tot.promptTokens)} prompt, ${fmtNumber(tot.completionTokens)} reply`} />
      <${Stat} label="Feedback" value=${pct(tot.feedbackUp, tot.feedbackDown)}
        note=${html`<span aria-hidden="true">👍</span> ${fmtNumber(tot.feedbackUp)} up · <span aria-hidden="true">👎</span> ${fmtNumber(tot.feedbackDown)} down`} />
    </div>
    ${noData ? html`<div class="alert alert-info"><div class="alert-text"><strong>Nothing happened in this range.</strong>
      <span>Choose a longer range, or put the widget on your site and the charts fill as visitors chat.</span></div></div>` : null}
    <div class="charts">
      <${ChartCard} title=${`Messages and replies ${per}`}>
        <${Chart} kind="line" labels=${labels} tipLabels=${tips}
          series=${[{ name: 'Visitor messages', values: msgs, cls: 'c1' }, { name: 'Replies', values: reps, cls: 'c2' }]}
          label=${`Line chart of messages and replies ${per}. ${sums('Visitor messages', msgs, tips)}. ${sums('Replies', reps, tips)}.`} />
      <//>
      <${ChartCard} title="Time to first token" note="How long visitors waited for the reply to start (p50 and p95).">
        <${Chart} kind="line" labels=${labels} tipLabels=${tips} format=${fmtMs}
          series=${[{ name: 'p50', values: p50, cls: 'c1' }, { name: 'p95', values: p95, cls: 'c3' }]}
          label=${`Line chart of the time to first token ${per}: p50 ${fmtMs(tot.ttftMsP50)} and p95 ${fmtMs(tot.ttftMsP95)} over the range.`} />
      <//>
      <${ChartCard} title=${`Tokens ${per}`}>
        <${Chart} kind="bar" labels=${labels} tipLabels=${tips}
          series=${[{ name: 'Prompt', values: prompt, cls: 'c1' }, { name: 'Reply', values: completion, cls: 'c3' }]}
          label=${`Bar chart of tokens ${per}. ${sums('Prompt tokens', prompt, tips)}. ${sums('Reply tokens', completion, tips)}.`} />
      <//>
      <${ChartCard} title="Feedback" note=${`${pct(tot.feedbackUp, tot.feedbackDown)} of the ratings were 👍.`}>
        <${Chart} kind="bar" labels=${labels} tipLabels=${tips}
          series=${[{ name: '👍 Up', values: up, cls: 'up' }, { name: '👎 Down', values: down, cls: 'down' }]}
          label=${`Bar chart of ratings ${per}: ${fmtNumber(tot.feedbackUp)} up and ${fmtNumber(tot.feedbackDown)} down, ${pct(tot.feedbackUp, tot.feedbackDown)} up.`} />
      <//>
    </div>
    <section class="card" aria-labelledby="by-model">
      <div class="card-header"><div><h2 id="by-model">By model</h2><p>Replies of the range per provider and model.</p></div></div>
      ${data.byModel.length ? html`<div class="table-wrap stack-table"><table class="table data-table">
        <thead><tr><th scope="col">Provider</th><th scope="col">Model</th><th scope="col" class="num">Replies</th>
          <th scope="col" class="num">Prompt tokens</th><th scope="col" class="num">Reply tokens</th><th scope="col" class="num">First token p50</th></tr></thead>
        <tbody>${data.byModel.map((m) => html`<tr key=${`${m.provider}/${m.model}`}>
          <td><span class="cell-label">Provider</span>${m.provider}</td>
          <td><span class="cell-label">Model</span><span class="mono">${m.model}</span></td>
          <td class="num"><span class="cell-label">Replies</span>${fmtNumber(m.replies)}</td>
          <td class="num"><span class="cell-label">Prompt tokens</span>${fmtNumber(m.promptTokens)}</td>
          <td class="num"><span class="cell-label">Reply tokens</span>${fmtNumber(m.completionTokens)}</td>
          <td class="num"><span class="cell-label">First token p50</span>${fmtMs(m.ttftMsP50)}</td>
        </tr>`)}</tbody></table></div>`
        : html`<p class="muted">No replies in this range.</p>`}
    </section>
    <details class="data-details">
      <summary>The numbers as a table (${fmtNumber(s.length)} ${hourly ? 'hours' : 'days'})</summary>
      <div class="table-wrap"><table class="table data-table">
        <caption class="visually-hidden">Numbers ${per}, UTC</caption>
        <thead><tr><th scope="col">${hourly ? 'Hour (UTC)' : 'Day (UTC)'}</th><th scope="col" class="num">Conversations</th><th scope="col" class="num">Messages</th>
          <th scope="col" class="num">Replies</th><th scope="col" class="num">Failed</th><th scope="col" class="num">TTFT p50</th><th scope="col" class="num">TTFT p95</th>
          <th scope="col" class="num">Tokens</th><th scope="col" class="num">👍</th><th scope="col" class="num">👎</th></tr></thead>
        <tbody>${s.map((p, i) => html`<tr key=${p.start}>
          <th scope="row" class="nowrap">${tips[i]}</th><td class="num">${fmtNumber(p.sessions)}</td><td class="num">${fmtNumber(p.userMessages)}</td>
          <td class="num">${fmtNumber(p.replies)}</td><td class="num">${fmtNumber(p.repliesFailed)}</td><td class="num">${fmtMs(p.ttftMsP50)}</td>
          <td class="num">${fmtMs(p.ttftMsP95)}</td><td class="num">${fmtNumber(p.promptTokens + p.completionTokens)}</td>
          <td class="num">${fmtNumber(p.feedbackUp)}</td><td class="num">${fmtNumber(p.feedbackDown)}</td>
        </tr>`)}</tbody>
      </table></div>
    </details>`;
}

export default function Analytics({ site, route, setQuery }) {
  const q = route.query;
  const interval = q.interval === 'hour' ? 'hour' : 'day';
  useEffect(() => { document.title = `Analytics · ${site.name} · Console`; }, [site.name]);
  const r = rangeOf(q);
  const span = r.error ? 0 : r.to - r.from;
  const load = useLoad(() => {
    const now = rangeOf(q);
    if (now.error) return Promise.resolve(null);
    return api.get(`/api/clients/${encodeURIComponent(site.id)}/analytics`, {
      from: new Date(now.from).toISOString(), to: new Date(now.to).toISOString(), interval,
    });
  }, [site.id, q.range, q.from, q.to, interval]);

  let body;
  if (r.error) body = html`<${Empty} title="Choose the days to show"><p>${r.error}</p><//>`;
  else if (load.error) body = html`<${ErrorBox} error=${load.error} retry=${load.reload} />`;
  else if (!load.data) body = html`<${Loading} label="Loading the numbers…" />`;
  else body = html`<div aria-busy=${load.loading ? 'true' : 'false'}><${Report} data=${load.data} /></div>`;

  const subtitle = r.error ? 'Times are UTC.'
    : `${longFmt.format(new Date(r.from))} to ${longFmt.format(new Date(r.to - 1))} (UTC), by ${interval}.`;
  return html`<div class="page page-analytics">
    <${PageHeader} title="Analytics" subtitle=${subtitle}
      actions=${html`<button type="button" class="btn" onClick=${load.reload} disabled=${load.loading}>Refresh</button>`} />
    <${RangePicker} query=${q} setQuery=${setQuery} span=${span} />
    ${body}
  </div>`;
}
