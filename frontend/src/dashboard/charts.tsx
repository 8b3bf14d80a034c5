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
const percentTick = (value: number) => `${Math.round(value * 100)}%`;

export function diagnosisColor(diagnosis: string): string {
  return DIAGNOSIS_COLORS[diagnosis] ?? (diagnosis.includes("precision") ? DIAGNOSIS_COLORS.low_precision : diagnosis.includes("recall") ? DIAGNOSIS_COLORS.low_recall : "#93c5fd");
}

/** Each VIP as a labelled point (recall, precision); clicking one opens its identity page. */
export function PerClassScatter({ points, onOpen, height = 360 }: { points: ClassPoint[]; onOpen: (point: ClassPoint) => void; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <ScatterChart margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="recall" name="Recall" domain={unit} tickFormatter={percentTick} {...AXIS} label={{ value: "Recall", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis type="number" dataKey="precision" name="Precision" domain={unit} tickFormatter={percentTick} {...AXIS} label={{ value: "Precision", angle: -90, position: "insideLeft", fill: "#cbd5e1" }} />
        <ZAxis range={[70, 70]} />
        <Tooltip
          contentStyle={TOOLTIP_STYLE}
          cursor={{ strokeDasharray: "3 3" }}
          formatter={(value, name) => [pct(Number(value)), String(name)]}
          labelFormatter={() => ""}
        />
        <Scatter data={points} onClick={(entry) => onOpen((entry as unknown as { payload?: ClassPoint }).payload ?? (entry as unknown as ClassPoint))} cursor="pointer" isAnimationActive={false}>
          {points.map((point) => (
            <Cell key={`${point.identity}-${point.name}`} fill={diagnosisColor(point.diagnosis)} />
          ))}
          <LabelList dataKey="name" position="top" fill="#e2e8f0" fontSize={11} />
        </Scatter>
      </ScatterChart>
    </ResponsiveContainer>
  );
}

/** Distractor, identification, total and kept accuracy and mean F1 against the threshold. */
export function SweepChart({ points, threshold, height = 320 }: { points: SweepPoint[]; threshold: number | null | undefined; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={points} margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="threshold" domain={unit} tickFormatter={(value: number) => value.toFixed(1)} {...AXIS} label={{ value: "Threshold", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis domain={unit} tickFormatter={percentTick} {...AXIS} />
        <Tooltip contentStyle={TOOLTIP_STYLE} labelFormatter={(value) => `threshold ${num(Number(value))}`} formatter={(value, name) => [pct(Number(value)), String(name)]} />
        <Legend verticalAlign="top" height={28} />
        {SWEEP_SERIES.map((series) => (
          <Line key={series.key} type="stepAfter" dataKey={series.key} name={series.label} stroke={series.color} dot={false} strokeWidth={2} connectNulls isAnimationActive={false} />
        ))}
        {threshold != null && <ReferenceLine x={threshold} stroke="#f8fafc" strokeDasharray="6 3" label={{ value: `operating point ${num(threshold, 2)}`, fill: "#f8fafc", position: "insideTopRight", fontSize: 12 }} />}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** Accuracy per confidence bin, before and after temperature scaling, against the diagonal of perfect calibration. */
export function CalibrationChart({ points, height = 320 }: { points: CalibrationPoint[]; height?: number }) {
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={points} margin={{ top: 12, right: 24, bottom: 24, left: 8 }}>
        <CartesianGrid stroke={GRID} />
        <XAxis type="number" dataKey="confidence" domain={unit} tickFormatter={percentTick} {...AXIS} label={{ value: "Confidence", position: "insideBottom", offset: -12, fill: "#cbd5e1" }} />
        <YAxis domain={unit} tickFormatter={percentTick} {...AXIS} label={{ value: "Accuracy", angle: -90, position: "insideLeft", fill: "#cbd5e1" }} />
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
        <YAxis domain={unit} tickFormatter={percentTick} {...AXIS} />
        <Tooltip contentStyle={TOOLTIP_STYLE} labelFormatter={(value) => `run ${value}`} formatter={(value, name) => [pct(Number(value)), String(name)]} />
        <Legend verticalAlign="top" height={28} />
        {series.map((line) => (
          <Line key={line.key} dataKey={line.key} name={line.label} stroke={line.color} strokeWidth={2} connectNulls isAnimationActive={false} />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
