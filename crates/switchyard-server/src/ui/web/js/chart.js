// Bar charts as inline SVG: no library, no canvas, readable by screen readers through the
// table each chart is drawn from (pages render both; the table is visually hidden).

import { html } from "./core.js";

// `points`: [{label, value, title}] in order. Bars scale to the largest value; a chart of all
// zeros draws an empty baseline rather than dividing by zero.
export function bars(points, { height = 140, label = "" } = {}) {
  const width = 600;
  const gap = 2;
  const max = Math.max(0, ...points.map((p) => p.value));
  const step = points.length ? width / points.length : width;
  const barWidth = Math.max(1, step - gap);
  const rects = points.map((p, i) => {
    const h = max > 0 ? Math.round((p.value / max) * (height - 4)) : 0;
    return html`<rect x="${(i * step).toFixed(1)}" y="${height - h}" width="${barWidth.toFixed(1)}" height="${h}"><title>${p.title ?? `${p.label}: ${p.value}`}</title></rect>`;
  });
  return html`<svg class="chart" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="${label}">
    <line x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" class="axis"></line>${rects}</svg>`;
}
