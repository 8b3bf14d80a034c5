/**
 * Reading a training run's stored results (metrics, per-class report, curves: the JSON written
 * by the training task from ml.metrics / ml.calibration, see api/results.ts) into plain series
 * for the charts. Kept apart from the charts so the reading is unit-tested on its own.
 */
import type { RunCurves, RunDetail, RunRow } from "../api/client";
import type { CalibrationReport, PerClassRow, SplitMetrics, Sweep } from "../api/results";

export const SWEEP_SERIES = [
  { key: "distractor_accuracy", label: "Distractor accuracy", color: "#f59e0b" },
  { key: "identification_accuracy", label: "Identification accuracy", color: "#60a5fa" },
  { key: "total_accuracy", label: "Total accuracy", color: "#34d399" },
  { key: "kept_accuracy", label: "Kept accuracy (precision)", color: "#f472b6" },
  { key: "mean_f1", label: "Mean F1", color: "#c4b5fd" },
] as const;

export type SweepKey = (typeof SWEEP_SERIES)[number]["key"];
export type SweepPoint = { threshold: number } & Partial<Record<SweepKey, number | null>>;
export type Split = "val" | "test";

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/** A split's threshold sweep from GET /runs/{id}/curves/ (validation: where the operating point is chosen). */
export function sweepOf(curves: Pick<RunCurves, "sweeps"> | null | undefined, split: Split = "val"): Sweep | null {
  const sweep = curves?.sweeps?.[split] as Sweep | null | undefined;
  return sweep && Array.isArray(sweep.thresholds) ? sweep : null;
}

export function sweepPoints(sweep: Sweep | null): SweepPoint[] {
  if (!sweep) return [];
  const points: SweepPoint[] = [];
  sweep.thresholds.forEach((threshold, index) => {
    if (!finite(threshold)) return;
    // The last threshold lies just above the largest confidence (reject all): clamp it onto the axis.
    const point: SweepPoint = { threshold: Math.min(1, Math.max(0, threshold)) };
    for (const { key } of SWEEP_SERIES) {
      const value = sweep[key]?.[index];
      point[key] = finite(value) ? value : null;
    }
    points.push(point);
  });
  return points;
}

/** The sweep's values at the threshold nearest `threshold` (what the operating point gives). */
export function sweepAt(points: SweepPoint[], threshold: number | null | undefined): SweepPoint | null {
  if (threshold == null || !points.length) return null;
  return points.reduce((best, point) => (Math.abs(point.threshold - threshold) < Math.abs(best.threshold - threshold) ? point : best));
}

export interface CalibrationPoint {
  confidence: number;
  before?: number | null;
  after?: number | null;
  count: number | null;
}

/**
 * The reliability curve of a split over VIP faces, before and after temperature scaling, as one
 * series of bins (empty bins left out), with the two expected calibration errors.
 */
export function calibrationOf(curves: Pick<RunCurves, "calibration"> | null | undefined, split: Split = "val"): { points: CalibrationPoint[]; eceBefore: number | null; eceAfter: number | null } {
  const report = curves?.calibration?.[split] as CalibrationReport | null | undefined;
  const before = report?.before?.vip;
  const after = report?.after?.vip;
  // One point per non-empty bin and stage (the stages' bins have different mean confidences);
  // each line skips the other stage's points.
  const points: CalibrationPoint[] = [];
  for (const [stage, curve] of [["before", before?.curve], ["after", after?.curve]] as const) {
    curve?.confidence.forEach((confidence, index) => {
      const accuracy = curve.accuracy[index];
      if (finite(confidence) && finite(accuracy)) points.push({ confidence, [stage]: accuracy, count: curve.count?.[index] ?? null });
    });
  }
  return {
    points: points.sort((a, b) => a.confidence - b.confidence),
    eceBefore: finite(before?.ece) ? before!.ece : null,
    eceAfter: finite(after?.ece) ? after!.ece : null,
  };
}

export interface ClassPoint {
  identity: number | null;
  name: string;
  precision: number;
  recall: number;
  f1: number | null;
  support: number | null;
  diagnosis: string;
}

/** One point per VIP with both precision and recall (a Distractor row, if any, is left out). */
export function perClassPoints(run: Pick<RunDetail, "per_class"> | null | undefined): ClassPoint[] {
  const rows: PerClassRow[] = Array.isArray(run?.per_class) ? run!.per_class! : [];
  return rows.flatMap((row) => {
    if (row.class_index === -1 || row.name === "Distractor") return [];
    if (!finite(row.precision) || !finite(row.recall)) return [];
    return [
      {
        identity: row.identity ?? null,
        name: row.name,
        precision: row.precision,
        recall: row.recall,
        f1: row.f1 ?? null,
        support: row.support ?? null,
        diagnosis: row.diagnosis || "ok",
      },
    ];
  });
}

/** A run's headline numbers on a split (at the threshold of max mean F1). */
export function headline(run: Pick<RunRow, "metrics"> | null | undefined, split: Split = "test"): SplitMetrics {
  return run?.metrics?.[split] ?? {};
}

export const FINISHED_STATES = ["succeeded", "failed", "cancelled"];

/** Precision and recall of one identity in each compared run, oldest run first (GET /runs/compare/). */
export function identityHistory(
  compare: { identities: { [key: string]: unknown }[] } | null | undefined,
  identity: number,
): { run: number; precision: number | null; recall: number | null; f1: number | null }[] {
  const entry = compare?.identities.find((row) => row.identity === identity) as { runs?: Record<string, { precision?: number | null; recall?: number | null; f1?: number | null }> } | undefined;
  return Object.entries(entry?.runs ?? {})
    .map(([run, values]) => ({ run: Number(run), precision: values.precision ?? null, recall: values.recall ?? null, f1: values.f1 ?? null }))
    .sort((a, b) => a.run - b.run);
}
