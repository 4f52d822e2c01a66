// Small SVG charts drawn by hand: a line and bars over labelled points, with axis labels. Each is an
// image with a spoken summary and its numbers in a visually hidden table, and takes its colours from
// the theme's custom properties (styles.css, .chart), so light and dark both read well.
import type { ReactNode } from 'react';

export interface ChartPoint {
  /** The x axis label of the point (a date, a slot). */
  label: string;
  /** null: no data there (drawn as a gap, read as "no data"). */
  value: number | null;
}

export interface ChartProps {
  title: string;
  points: ChartPoint[];
  /** How values read on the axis, in the table and in the summary. */
  format: (value: number) => string;
  /** What the y axis measures ("budget left", "deploys per day"). */
  yLabel: string;
  /** The axis starts at 0 unless given; its top is the largest value unless given. */
  min?: number;
  max?: number;
}

const WIDTH = 480;
const HEIGHT = 180;
const MARGIN = { top: 12, right: 16, bottom: 30, left: 76 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

function summary(title: string, points: ChartPoint[], format: (v: number) => string): string {
  const known = points.filter((p): p is ChartPoint & { value: number } => p.value !== null);
  if (known.length === 0) return `${title}: no data yet.`;
  const last = known[known.length - 1];
  const values = known.map((p) => p.value);
  return `${title}: ${points.length} points from ${points[0].label} to ${points[points.length - 1].label}; latest ${format(last.value)} (${last.label}), lowest ${format(Math.min(...values))}, highest ${format(Math.max(...values))}.`;
}

/** The frame every chart shares: scale, axes with three ticks, first/middle/last x labels, and the hidden table. */
function ChartFrame({
  title,
  points,
  format,
  yLabel,
  min,
  max,
  children,
}: ChartProps & { children: (scale: { x: (i: number) => number; y: (v: number) => number; step: number }) => ReactNode }) {
  const values = points.flatMap((p) => (p.value === null ? [] : [p.value]));
  const low = min ?? Math.min(0, ...values);
  const high = Math.max(max ?? Math.max(...values, 0), low + Number.EPSILON);
  const step = PLOT_W / Math.max(points.length, 1);
  const x = (i: number) => MARGIN.left + step * (i + 0.5);
  const y = (v: number) => MARGIN.top + PLOT_H - ((Math.min(Math.max(v, low), high) - low) / (high - low)) * PLOT_H;
  const ticks = [low, (low + high) / 2, high];
  const labelled = [...new Set([0, Math.floor((points.length - 1) / 2), points.length - 1])].filter((i) => i >= 0);
  const spoken = summary(title, points, format);
  if (values.length === 0)
    return (
      <figure className="chart">
        <figcaption>{title}</figcaption>
        <p className="muted">No data in this window.</p>
      </figure>
    );
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={spoken} preserveAspectRatio="xMidYMid meet">
        <title>{spoken}</title>
        {ticks.map((t, i) => (
          <g key={i}>
            <line className="grid" x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(t)} y2={y(t)} />
            <text className="tick" x={MARGIN.left - 6} y={y(t)} textAnchor="end" dominantBaseline="middle">
              {format(t)}
            </text>
          </g>
        ))}
        <line className="axis" x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={MARGIN.top + PLOT_H} y2={MARGIN.top + PLOT_H} />
        {labelled.map((i) => (
          <text
            key={i}
            className="tick"
            x={x(i)}
            y={HEIGHT - 10}
            textAnchor={i === 0 && points.length > 1 ? 'start' : i === points.length - 1 && points.length > 1 ? 'end' : 'middle'}
          >
            {points[i].label}
          </text>
        ))}
        <text className="axis-label" transform={`translate(12 ${MARGIN.top + PLOT_H / 2}) rotate(-90)`} textAnchor="middle">
          {yLabel}
        </text>
        {children({ x, y, step })}
      </svg>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">{yLabel}</th>
          </tr>
        </thead>
        <tbody>
          {points.map((p, i) => (
            <tr key={i}>
              <td>{p.label}</td>
              <td>{p.value === null ? 'no data' : format(p.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** A line through the points (broken where there is no data), with a dot on each. */
export function LineChart(props: ChartProps) {
  return (
    <ChartFrame {...props}>
      {({ x, y }) => {
        const path = props.points
          .map((p, i) =>
            p.value === null
              ? ''
              : `${i === 0 || props.points[i - 1].value === null ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`,
          )
          .join(' ');
        return (
          <>
            <path className="series-line" d={path} />
            {props.points.map((p, i) =>
              p.value === null ? null : <circle key={i} className="series-dot" cx={x(i)} cy={y(p.value)} r={2.5} />,
            )}
          </>
        );
      }}
    </ChartFrame>
  );
}

/** A bar per point, from the axis's low end. */
export function BarChart(props: ChartProps) {
  return (
    <ChartFrame {...props}>
      {({ x, y, step }) => {
        const width = Math.max(step * 0.7, 1);
        const base = y(props.min ?? 0);
        return props.points.map((p, i) =>
          p.value === null ? null : (
            <rect
              key={i}
              className="series-bar"
              x={x(i) - width / 2}
              y={Math.min(y(p.value), base)}
              width={width}
              height={Math.abs(base - y(p.value))}
            />
          ),
        );
      }}
    </ChartFrame>
  );
}
