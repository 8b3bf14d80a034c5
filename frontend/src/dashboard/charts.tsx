/** The charts (recharts): per-class scatter, threshold sweep, calibration, run history, identity history. */
import {
  CartesianGrid,
  Cell,
  LabelList,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
  ZAxis,
} from "recharts";

import { num, pct } from "../components/format";
import { SWEEP_SERIES, type CalibrationPoint, type ClassPoint, type SweepPoint } from "./metrics";

const AXIS = { stroke: "#94a3b8", fontSize: 12 };
const GRID = "#334155";
const TOOLTIP_STYLE = { backgroundColor: "#0f172a", border: "1px solid #475569", color: "#e2e8f0" };
const DIAGNOSIS_COLORS: Record<string, string> = { ok: "#34d399", low_precision: "#f87171", low_recall: "#fbbf24" };
const unit = [0, 1] as [number, number];
/** Axes over 0-1 tick at round values only. */
export const UNIT_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1];
/** At most this many names are written at one spot of the per-VIP chart; the rest say "+N more". */
export const LABELS_PER_SPOT = 3;
const percentTick = (value: number) => `${Math.round(value * 100)}%`;

export function diagnosisColor(diagnosis: string): string {
  return DIAGNOSIS_COLORS[diagnosis] ?? (diagnosis.includes("precision") ? DIAGNOSIS_COLORS.low_precision : diagnosis.includes("recall") ? DIAGNOSIS_COLORS.low_recall : "#93c5fd");
}

/**
 * Points that fall on the same spot get stacked labels (the n-th one is written n lines lower); past
 * LABELS_PER_SPOT names, one label says how many more sit there (`more`), the others none (`hidden`):
 * many VIPs at 100%/100% stay readable, and the table below the chart lists them all.
 */
export function stackLabels<T extends { precision: number; recall: number }>(points: T[]): (T & { stack: number; more: number; hidden: boolean })[] {
  const key = (point: T) => `${point.precision.toFixed(2)}:${point.recall.toFixed(2)}`;
  const total = new Map<string, number>();
  for (const point of points) total.set(key(point), (total.get(key(point)) ?? 0) + 1);
  const seen = new Map<string, number>();
  return points.map((point) => {
    const stack = seen.get(key(point)) ?? 0;
    seen.set(key(point), stack + 1);
    const count = total.get(key(point)) ?? 1;
    const crowded = count > LABELS_PER_SPOT;
    return { ...point, stack, more: crowded && stack === LABELS_PER_SPOT - 1 ? count - (LABELS_PER_SPOT - 1) : 0, hidden: crowded && stack >= LABELS_PER_SPOT };
  });
}

interface LabelProps {
  x?: number | string;
  y?: number | string;
  width?: number | string;
  height?: number | string;
  value?: unknown;
  index?: number;
}

/** Each VIP as a labelled point (recall, precision); clicking one opens its identity page. */
export function PerClassScatter({ points, onOpen, height = 300 }: { points: ClassPoint[]; onOpen: (point: ClassPoint) => void; height?: number }) {
  const stacked = stackLabels(points);
  // Labels sit beside their point, towards the middle of the plot, so none leaves it.
  const label = ({ x = 0, y = 0, width = 0, height: h = 0, value, index = 0 }: LabelProps) => {
    const point = stacked[index];
    if (!point || point.hidden) return null;
    const right = point.recall < 0.6;
    const cx = Number(x) + Number(width) / 2;
    const cy = Number(y) + Number(h) / 2;
    return (
      <text x={cx + (right ? 9 : -9)} y={cy + 4 + point.stack * 13} textAnchor={right ? "start" : "end"} fill="#e2e8f0" fontSize={11}>
        {point.more ? `+${point.more} more here` : String(value)}
      </text>
    );
  };
  return (
    <ResponsiveContainer width="100%" height={height}>
      <ScatterChart margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="recall" name="Recall" domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} label={{ value: "Recall", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis type="number" dataKey="precision" name="Precision" domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} label={{ value: "Precision", angle: -90, position: "insideLeft", fill: "#cbd5e1" }} />
        <ZAxis range={[70, 70]} />
        <Tooltip
          contentStyle={TOOLTIP_STYLE}
          cursor={{ strokeDasharray: "3 3" }}
          formatter={(value, name) => [pct(Number(value)), String(name)]}
          labelFormatter={() => ""}
        />
        <Scatter data={stacked} onClick={(entry) => onOpen((entry as unknown as { payload?: ClassPoint }).payload ?? (entry as unknown as ClassPoint))} cursor="pointer" isAnimationActive={false}>
          {stacked.map((point) => (
            <Cell key={`${point.identity}-${point.name}`} fill={diagnosisColor(point.diagnosis)} />
          ))}
          <LabelList dataKey="name" content={label} />
        </Scatter>
      </ScatterChart>
    </ResponsiveContainer>
  );
}

/** Distractor, identification, total and kept accuracy and mean F1 against the threshold. */
export function SweepChart({ points, threshold, height = 300 }: { points: SweepPoint[]; threshold: number | null | undefined; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={points} margin={{ top: 22, right: 24, bottom: 8, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="threshold" domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={(value: number) => value.toFixed(1)} {...AXIS} label={{ value: "Threshold", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} />
        <Tooltip contentStyle={TOOLTIP_STYLE} labelFormatter={(value) => `threshold ${num(Number(value))}`} formatter={(value, name) => [pct(Number(value)), String(name)]} />
        <Legend verticalAlign="bottom" height={36} wrapperStyle={{ fontSize: 12, paddingTop: 18 }} />
        {SWEEP_SERIES.map((series) => (
          <Line key={series.key} type="stepAfter" dataKey={series.key} name={series.label} stroke={series.color} dot={false} strokeWidth={2} connectNulls isAnimationActive={false} />
        ))}
        {threshold != null && <ReferenceLine x={threshold} stroke="#f8fafc" strokeDasharray="6 3" label={{ value: `operating point ${num(threshold, 2)}`, fill: "#f8fafc", position: "top", fontSize: 12 }} />}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** Accuracy per confidence bin, before and after temperature scaling, against the diagonal of perfect calibration. */
export function CalibrationChart({ points, height = 300 }: { points: CalibrationPoint[]; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={points} margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="confidence" domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} label={{ value: "Confidence", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} label={{ value: "Accuracy", angle: -90, position: "insideLeft", fill: "#cbd5e1" }} />
        <Tooltip contentStyle={TOOLTIP_STYLE} labelFormatter={(value) => `confidence ${pct(Number(value))}`} formatter={(value, name) => [pct(Number(value)), String(name)]} />
        <Legend verticalAlign="top" height={28} />
        <ReferenceLine segment={[{ x: 0, y: 0 }, { x: 1, y: 1 }]} stroke="#64748b" strokeDasharray="4 4" />
        <Line type="linear" dataKey="before" name="Before temperature scaling" stroke="#f59e0b" strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
        <Line type="linear" dataKey="after" name="After (calibrated)" stroke="#60a5fa" strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
      </LineChart>
    </ResponsiveContainer>
  );
}

export interface HistoryPoint {
  run: number;
  [metric: string]: number | null;
}

/** Metrics across runs (x = run number). */
export function RunHistoryChart({ points, series, height = 260 }: { points: HistoryPoint[]; series: { key: string; label: string; color: string }[]; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={points} margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis dataKey="run" tickFormatter={(value) => `#${value}`} {...AXIS} label={{ value: "Run", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis domain={unit} ticks={UNIT_TICKS} interval={0} tickFormatter={percentTick} {...AXIS} />
        <Tooltip contentStyle={TOOLTIP_STYLE} labelFormatter={(value) => `run ${value}`} formatter={(value, name) => [pct(Number(value)), String(name)]} />
        <Legend verticalAlign="top" height={28} />
        {series.map((line) => (
          <Line key={line.key} dataKey={line.key} name={line.label} stroke={line.color} strokeWidth={2} connectNulls isAnimationActive={false} />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
