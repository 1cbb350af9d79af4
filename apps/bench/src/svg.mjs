// Two charts, drawn by hand: messages/s and round-trip time per mechanism, one bar per message size, on a
// log scale, with the min–max of the runs as a whisker (and the p99 as a tick on the latency chart).
import { format, label } from './targets.mjs';

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1'];
const GROUP_COLORS = {
  ipcx: '#1b4f8a',
  path: '#1b4f8a',
  node: '#444444',
  peer: '#444444',
  c: '#7a4b00',
  floor: '#7a4b00',
};
const LABEL_WIDTH = 290;
const PLOT_WIDTH = 560;
const BAR = 7;

export function throughputChart(report) {
  return chart(report, {
    title: 'One-way throughput, messages/s (log scale; bar: median, whisker: min–max)',
    measure: 'throughput',
    pick: (r) => ({ value: r.msgsPerSec.median, min: r.msgsPerSec.min, max: r.msgsPerSec.max }),
    unit: 'msg/s',
  });
}

export function latencyChart(report) {
  return chart(report, {
    title: 'Round trip p50, µs (log scale; bar: median p50, whisker: min–max, tick: p99); shorter is better',
    measure: 'rtt',
    pick: (r) => ({ value: r.p50Us.median, min: r.p50Us.min, max: r.p50Us.max, tick: r.p99Us.median }),
    unit: 'µs',
  });
}

function chart(report, { title, measure, pick, unit }) {
  const sizes = report.sizes;
  const rows = [...report.rows]
    .sort((a, b) => rank(a) - rank(b))
    .filter((row) => report.results.some((r) => r.row === row.id && r.measure === measure));
  const points = report.results.filter((r) => r.measure === measure).map((r) => ({ ...r, ...pick(r) }));
  const values = points.flatMap((p) => [p.min, p.max, p.tick ?? p.value]).filter((v) => v > 0 && Number.isFinite(v));
  const lo = values.length ? Math.floor(Math.log10(Math.min(...values))) : 0;
  const hi = values.length ? Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values)))) : 1;
  const x = (v) => LABEL_WIDTH + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo || 1)) * PLOT_WIDTH;
  const band = sizes.length * (BAR + 1) + 8;
  const top = 50;
  const height = top + rows.length * band + 40;
  const width = LABEL_WIDTH + PLOT_WIDTH + 30;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="10" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`);
  // Legend: one colour per size.
  sizes.forEach((size, i) => {
    const lx = LABEL_WIDTH + i * 90;
    out.push(`<rect x="${lx}" y="28" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 14}" y="37">${escapeXml(label(size))}</text>`);
  });
  // Decades.
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d);
    out.push(
      `<line x1="${gx.toFixed(1)}" y1="${top - 4}" x2="${gx.toFixed(1)}" y2="${height - 30}" stroke="#dddddd"/>`,
    );
    out.push(
      `<text x="${gx.toFixed(1)}" y="${height - 16}" text-anchor="middle" fill="#555555">${escapeXml(format(10 ** d))}</text>`,
    );
  }
  out.push(
    `<text x="${LABEL_WIDTH + PLOT_WIDTH}" y="${height - 4}" text-anchor="end" fill="#555555">${escapeXml(unit)}</text>`,
  );
  rows.forEach((row, i) => {
    const y0 = top + i * band;
    if (i % 2 === 1) out.push(`<rect x="0" y="${y0 - 2}" width="${width}" height="${band}" fill="#f6f6f6"/>`);
    const name = `${row.label} · ${row.kind === 'object' ? 'object' : 'raw'}${row.place === 'thread' ? ' · threads' : ''}`;
    out.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y0 + band / 2}" text-anchor="end" fill="${GROUP_COLORS[row.group]}"${row.group === 'ipcx' ? ' font-weight="bold"' : ''}>${escapeXml(name)}</text>`,
    );
    sizes.forEach((size, j) => {
      const p = points.find((q) => q.row === row.id && q.size === size);
      if (!p) return;
      const y = y0 + j * (BAR + 1);
      const x0 = x(10 ** lo);
      out.push(
        `<rect x="${x0}" y="${y}" width="${Math.max(1, x(p.value) - x0).toFixed(1)}" height="${BAR}" fill="${COLORS[j % COLORS.length]}"><title>${escapeXml(`${row.label} (${row.kind}), ${label(size)}: ${format(p.value)} ${unit}`)}</title></rect>`,
      );
      out.push(
        `<line x1="${x(p.min).toFixed(1)}" y1="${y + BAR / 2}" x2="${x(p.max).toFixed(1)}" y2="${y + BAR / 2}" stroke="#222222"/>`,
      );
      if (p.tick !== undefined)
        out.push(
          `<line x1="${x(p.tick).toFixed(1)}" y1="${y}" x2="${x(p.tick).toFixed(1)}" y2="${y + BAR}" stroke="#c00000" stroke-width="2"/>`,
        );
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function rank(row) {
  return { ipcx: 0, node: 1, floor: 2, c: 2 }[row.group] ?? 3;
}

function escapeXml(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
