/** A hand-rolled SVG column chart: one series over days, with gridlines and an accessible table fallback. */
import { useId } from "react";

export type Point = { label: string; value: number };

/** Rounds up to 1, 2 or 5 times a power of ten, so gridlines get round labels. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

/** `minScale`: the smallest top of the axis (keeps an all-zero chart from showing micro-cent gridlines). */
export function ColumnChart({ points, format, title, minScale = 1 }: { points: Point[]; format: (v: number) => string; title: string; minScale?: number }) {
  const descId = useId();
  const W = 720;
  const H = 220;
  const pad = { l: 56, r: 8, t: 12, b: 26 };
  const max = niceCeil(Math.max(minScale, ...points.map((p) => p.value)));
  const innerW = W - pad.l - pad.r;
  const innerH = H - pad.t - pad.b;
  const step = innerW / Math.max(1, points.length);
  const barW = Math.max(2, Math.min(28, step * 0.7));
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const every = Math.ceil(points.length / 8);
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} aria-describedby={descId}>
        {ticks.map((t) => {
          const y = pad.t + innerH * (1 - t);
          return (
            <g key={t}>
              <line x1={pad.l} x2={W - pad.r} y1={y} y2={y} stroke="#ececef" />
              <text x={pad.l - 6} y={y + 4} textAnchor="end">{format(max * t)}</text>
            </g>
          );
        })}
        {points.map((p, i) => {
          const h = (p.value / max) * innerH;
          const x = pad.l + i * step + (step - barW) / 2;
          return (
            <g key={p.label}>
              <rect x={x} y={pad.t + innerH - h} width={barW} height={Math.max(h, p.value > 0 ? 1 : 0)} rx={2} fill="#6366f1">
                <title>{`${p.label}: ${format(p.value)}`}</title>
              </rect>
              {i % every === 0 ? <text x={x + barW / 2} y={H - 8} textAnchor="middle">{p.label.slice(5)}</text> : null}
            </g>
          );
        })}
      </svg>
      <figcaption id={descId} className="sr-only">
        {points.map((p) => `${p.label}: ${format(p.value)}`).join("; ")}
      </figcaption>
    </figure>
  );
}
