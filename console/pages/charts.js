// Plain SVG charts for the console's data pages: a line chart and a (stacked) bar chart with
// axes, a tooltip per bucket through SVG <title>, and words for those who cannot see them
// (role="img" with an aria-label that sums the chart up). The SVG is drawn at the pixel width
// of its box (a ResizeObserver), so its text stays readable from a phone to a desktop.
// Colours come from classes (data.css), never from style attributes (the console's CSP).
import { html, useState, useRef, useLayoutEffect } from '../lib.js';
import { fmtNumber } from '../ui.js';

const PAD = { top: 12, right: 12, bottom: 28, left: 48 };

/** A "nice" step (1, 2 or 5 times a power of ten) near `raw`. */
function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Ticks from 0 to a nice top above `max`, about `count` of them. */
export function ticks(max, count = 4, integer = true) {
  let step = niceStep((max > 0 ? max : 1) / count);
  if (integer) step = Math.max(1, Math.round(step));
  const top = Math.max(step, Math.ceil((max > 0 ? max : 1) / step) * step);
  const out = [];
  for (let v = 0; v <= top + step / 2; v += step) out.push(v);
  return out;
}

/** The box's width in pixels, followed as it changes. */
function useWidth(initial = 600) {
  const ref = useRef(null);
  const [width, setWidth] = useState(initial);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const measure = () => {
      const w = Math.floor(el.getBoundingClientRect().width);
      if (w > 0) setWidth((old) => (Math.abs(old - w) >= 1 ? w : old));
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/** Which x labels to print so that they do not overlap: every `every`-th. */
function labelEvery(n, plotWidth, labelWidth = 56) {
  const fit = Math.max(1, Math.floor(plotWidth / labelWidth));
  return Math.max(1, Math.ceil(n / fit));
}

function Legend({ series }) {
  if (series.length < 2) return null;
  return html`<ul class="chart-legend" aria-hidden="true">
    ${series.map((s, i) => html`<li key=${s.name}><span class=${`chart-swatch ${s.cls || `c${i + 1}`}`}></span>${s.name}</li>`)}
  </ul>`;
}

/**
 * A chart of `series` ([{name, values: [number|null], cls?}]) over `labels` (one per
 * bucket; `tipLabels` for the tooltips when the axis labels are shorter).
 * kind: 'line' or 'bar' (bars are stacked when there are several series).
 * `label`: the accessible words (what the chart shows and its main numbers).
 * `format`: how values print (default: grouped integers). `integer`: ticks are integers.
 */
export function Chart({
  kind = 'line', label, labels, tipLabels, series, format = fmtNumber, height = 200, integer = true,
}) {
  const [ref, width] = useWidth();
  const n = labels.length;
  const w = Math.max(240, width);
  const plotW = w - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const stacked = kind === 'bar';
  const totals = labels.map((_, i) => (stacked
    ? series.reduce((sum, s) => sum + (s.values[i] || 0), 0)
    : Math.max(0, ...series.map((s) => s.values[i] ?? 0))));
  const max = Math.max(0, ...totals);
  const yTicks = ticks(max, height < 160 ? 3 : 4, integer);
  const top = yTicks[yTicks.length - 1];
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const slot = n > 0 ? plotW / n : plotW;
  const xMid = (i) => PAD.left + slot * i + slot / 2;
  const every = labelEvery(n, plotW);
  const tips = tipLabels || labels;

  const grid = yTicks.map((t) => html`<g key=${`y${t}`} class="chart-tick">
    <line x1=${PAD.left} x2=${w - PAD.right} y1=${y(t)} y2=${y(t)} class=${t === 0 ? 'chart-axis' : 'chart-grid'} />
    <text x=${PAD.left - 6} y=${y(t)} dy="0.32em" text-anchor="end">${format(t)}</text>
  </g>`);
  const xLabels = labels.map((l, i) => (i % every === 0
    ? html`<text key=${`x${i}`} class="chart-xlabel" x=${xMid(i)} y=${height - 8} text-anchor="middle">${l}</text>`
    : null));

  let marks;
  if (kind === 'bar') {
    const bw = Math.max(1, Math.min(28, slot * 0.7));
    marks = labels.map((_, i) => {
      let base = 0;
      return html`<g key=${`b${i}`}>${series.map((s, k) => {
        const v = s.values[i] || 0;
        const y0 = y(base);
        base += v;
        const y1 = y(base);
        return v > 0 ? html`<rect key=${k} class=${`chart-bar ${s.cls || `c${k + 1}`}`}
          x=${xMid(i) - bw / 2} y=${y1} width=${bw} height=${Math.max(0.5, y0 - y1)} rx="2" />` : null;
      })}</g>`;
    });
  } else {
    marks = series.map((s, k) => {
      // A line per run of known values; a lone known value is a dot.
      const runs = [];
      let run = [];
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          if (run.length) runs.push(run);
          run = [];
        } else run.push([xMid(i), y(v)]);
      });
      if (run.length) runs.push(run);
      const cls = s.cls || `c${k + 1}`;
      return html`<g key=${s.name} class=${`chart-series ${cls}`}>
        ${runs.map((r, j) => (r.length > 1
          ? html`<polyline key=${j} class="chart-line" points=${r.map((p) => p.join(',')).join(' ')} />`
          : null))}
        ${runs.flatMap((r) => (n <= 62 || r.length === 1 ? r : [])).map((p, j) => html`<circle key=${`d${j}`} class="chart-dot" cx=${p[0]} cy=${p[1]} r="3" />`)}
      </g>`;
    });
  }

  // A hover target per bucket whose <title> names every series' value there.
  const hits = labels.map((_, i) => {
    const parts = series.map((s) => `${s.name}: ${s.values[i] === null || s.values[i] === undefined ? '—' : format(s.values[i])}`);
    return html`<rect key=${`h${i}`} class="chart-hit" x=${PAD.left + slot * i} y=${PAD.top} width=${slot} height=${plotH}>
      <title>${`${tips[i]}\n${parts.join('\n')}`}</title>
    </rect>`;
  });

  return html`<div class="chart">
    <${Legend} series=${series} />
    <div class="chart-box" ref=${ref}>
      <svg class="chart-svg" role="img" aria-label=${label} width=${w} height=${height} viewBox=${`0 0 ${w} ${height}`}>
        ${grid}${xLabels}${marks}${hits}
      </svg>
    </div>
  </div>`;
}

/** A small number tile: a label, a big value, and a note under it. */
export function Stat({ label, value, note }) {
  return html`<div class="stat">
    <div class="stat-label">${label}</div>
    <div class="stat-value">${value}</div>
    ${note ? html`<div class="stat-note">${note}</div>` : null}
  </div>`;
}
