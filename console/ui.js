// Shared pieces of every console page: states (loading, empty, error), form fields, the
// confirm dialog, copy buttons, pagers, toasts, formatting, and the data-loading hook.
import { html, h, useState, useEffect, useRef, useCallback } from './lib.js';

/** A spinner with words, announced politely to screen readers. */
export function Loading({ label = 'Loading…' } = {}) {
  return html`<div class="state state-loading" role="status" aria-live="polite">
    <span class="spinner" aria-hidden="true"></span><span>${label}</span>
  </div>`;
}

/** Nothing here yet, and what to do next (children: the next action). */
export function Empty({ title, children }) {
  return html`<div class="state state-empty">
    <div class="state-icon" aria-hidden="true"><svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor"
      stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" focusable="false"><path d="M4 13h4l2 3h4l2-3h4"></path>
      <path d="M5.5 5.5 4 13v5a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-5l-1.5-7.5A2 2 0 0 0 16.5 4h-9a2 2 0 0 0-2 1.5z"></path></svg></div>
    <p class="state-title">${title}</p>
    ${children ? html`<div class="state-body">${children}</div>` : null}
  </div>`;
}

/** An error in the API's own words, with a retry when one makes sense. */
export function ErrorBox({ error, retry }) {
  if (!error) return null;
  const message = error.message || String(error);
  const detail = error.detail && typeof error.detail === 'string' ? error.detail
    : error.detail && typeof error.detail === 'object' && error.detail.field ? `Field: ${error.detail.field}` : null;
  return html`<div class="alert alert-error" role="alert">
    <div class="alert-text">
      <strong>${message}</strong>
      ${detail ? html`<span class="alert-detail">${detail}</span>` : null}
    </div>
    ${retry ? html`<button type="button" class="btn btn-small" onClick=${retry}>Try again</button>` : null}
  </div>`;
}

let fieldSeq = 0;
const CONTROLS = ['input', 'select', 'textarea'];
/**
 * A labelled form field. A control among the children (input, select, textarea) gets `id`
 * (made up if not given) and its hint and error as description; other markup gives its
 * control `id` itself.
 */
export function Field({ label, hint, error, id, children }) {
  const ref = useRef(null);
  if (!ref.current) ref.current = id || `f${++fieldSeq}`;
  const fid = id || ref.current;
  const hintId = hint ? `${fid}-hint` : null;
  const errId = error ? `${fid}-err` : null;
  const describedBy = [hintId, errId].filter(Boolean).join(' ') || undefined;
  const kids = (Array.isArray(children) ? children : [children]).map((c) => (c && c.props && CONTROLS.includes(c.type)
    ? h(c.type, {
      ...c.props, key: c.key, ref: c.ref, id: c.props.id || fid,
      'aria-describedby': c.props['aria-describedby'] || describedBy,
      'aria-invalid': error ? 'true' : c.props['aria-invalid'],
    })
    : c));
  return html`<div class=${`field${error ? ' field-invalid' : ''}`}>
    <label class="field-label" for=${fid}>${label}</label>
    ${kids}
    ${hint ? html`<p class="field-hint" id=${hintId}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${errId}>${error}</p>` : null}
  </div>`;
}

/**
 * A modal dialog (the native <dialog>: the page behind is inert, Escape closes it) asking to
 * confirm; with `typed` the user must type that text first.
 */
export function Confirm({ title, message, typed, confirmLabel = 'Confirm', danger = false, onConfirm, onCancel }) {
  const ref = useRef(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const cancel = (e) => { e.preventDefault(); if (!busy) onCancel && onCancel(); };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, [busy]);
  const ok = !typed || text.trim() === typed;
  const submit = async (e) => {
    e.preventDefault();
    if (!ok || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<dialog ref=${ref} class="dialog" aria-labelledby="dlg-title">
    <form method="dialog" onSubmit=${submit}>
      <h2 id="dlg-title" class="dialog-title">${title}</h2>
      <div class="dialog-body">${message}</div>
      ${typed ? html`<${Field} label=${html`Type <strong class="mono">${typed}</strong> to confirm`}>
        <input class="input" autocomplete="off" spellcheck="false" value=${text} onInput=${(e) => setText(e.target.value)} />
      <//>` : null}
      <${ErrorBox} error=${error} />
      <div class="dialog-actions">
        <button type="button" class="btn" onClick=${() => onCancel && onCancel()} disabled=${busy}>Cancel</button>
        <button type="submit" class=${`btn ${danger ? 'btn-danger' : 'btn-primary'}`} disabled=${!ok || busy}>
          ${busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </form>
  </dialog>`;
}

/** Copies `text` to the clipboard; says so for a moment. */
export function CopyButton({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      document.body.append(ta);
      ta.select();
      try { document.execCommand('copy'); } catch { /* nothing more to try */ }
      ta.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1600);
  };
  return html`<button type="button" class="btn btn-small btn-copy" onClick=${copy} aria-live="polite">
    ${done ? 'Copied ✓' : label}
  </button>`;
}

/** Previous and next page buttons. */
export function Pager({ hasNext, hasPrev, onNext, onPrev }) {
  if (!hasNext && !hasPrev) return null;
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" class="btn btn-small" onClick=${onPrev} disabled=${!hasPrev}>← Previous</button>
    <button type="button" class="btn btn-small" onClick=${onNext} disabled=${!hasNext}>Next →</button>
  </nav>`;
}

/** A page's title line, with its subtitle and actions. */
export function PageHeader({ title, subtitle, actions }) {
  return html`<div class="page-header">
    <div class="page-heading">
      <h1>${title}</h1>
      ${subtitle ? html`<p class="page-subtitle">${subtitle}</p>` : null}
    </div>
    ${actions ? html`<div class="page-actions">${actions}</div>` : null}
  </div>`;
}

/**
 * Runs `fn` (an async function returning data) when `deps` change:
 * `{data, error, loading, reload}`. A stale answer never overwrites a newer one.
 */
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ data: s.data, error: null, loading: true }));
    Promise.resolve()
      .then(fn)
      .then((data) => { if (mine === seq.current) setState({ data, error: null, loading: false }); })
      .catch((error) => { if (mine === seq.current) setState({ data: null, error, loading: false }); });
  }, deps);
  useEffect(() => { run(); return () => { seq.current++; }; }, [run]);
  return { ...state, reload: run };
}

let toastBox = null;
/** A short message at the bottom of the screen; kind: 'ok' (default), 'error', 'info'. */
export function toast(message, kind = 'ok') {
  if (!toastBox) {
    toastBox = document.createElement('div');
    toastBox.className = 'toasts';
    toastBox.setAttribute('role', 'status');
    toastBox.setAttribute('aria-live', 'polite');
    document.body.append(toastBox);
  }
  const t = document.createElement('div');
  t.className = `toast toast-${kind}`;
  t.textContent = message;
  toastBox.append(t);
  setTimeout(() => t.classList.add('toast-out'), 3200);
  setTimeout(() => t.remove(), 3600);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** A date (Unix milliseconds or an RFC 3339 string) in the reader's locale; '—' when absent. */
export function fmtDate(v) {
  if (v === null || v === undefined || v === '') return '—';
  const d = new Date(typeof v === 'number' ? v : String(v));
  return Number.isNaN(d.getTime()) ? '—' : dateFmt.format(d);
}

const numFmt = new Intl.NumberFormat();
/** A number with the reader's grouping; '—' when absent. */
export function fmtNumber(n) {
  return n === null || n === undefined || Number.isNaN(Number(n)) ? '—' : numFmt.format(Number(n));
}
