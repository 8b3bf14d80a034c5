/**
 * Reading a training run's stored results (metrics, per_class, curves: JSON written by the
 * training task from ml.metrics / ml.calibration) into plain series for the charts. Kept
 * separate from the charts so the shapes are unit-tested and one place adapts when they move.
 */
import type { PerClassRow, Reliability, Run, Sweep } from "../api/provisional";

export const SWEEP_SERIES = [
  { key: "distractor_accuracy", label: "Distractor accuracy", color: "#f59e0b" },
  { key: "identification_accuracy", label: "Identification accuracy", color: "#60a5fa" },
  { key: "total_accuracy", label: "Total accuracy", color: "#34d399" },
  { key: "kept_accuracy", label: "Kept accuracy (precision)", color: "#f472b6" },
  { key: "mean_f1", label: "Mean F1", color: "#c4b5fd" },
] as const;

export type SweepKey = (typeof SWEEP_SERIES)[number]["key"];
export type SweepPoint = { threshold: number } & Partial<Record<SweepKey, number | null>>;

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The first object (depth-first, preferred keys first) that `test` accepts. */
export function findObject(root: Json, test: (value: Record<string, Json>) => boolean, prefer: string[] = [], depth = 0): Record<string, Json> | null {
  if (!isRecord(root) || depth > 5) return null;
  if (test(root)) return root;
  const keys = Object.keys(root).sort((a, b) => rank(a, prefer) - rank(b, prefer));
  for (const key of keys) {
    const found = findObject(root[key], test, prefer, depth + 1);
    if (found) return found;
  }
  return null;
}

function rank(key: string, prefer: string[]): number {
  const index = prefer.indexOf(key);
  return index < 0 ? prefer.length : index;
}

/** The validation threshold sweep of a run (the one the operating point is chosen on). */
export function sweepOf(run: Pick<Run, "curves" | "metrics"> | null | undefined, split: "val" | "test" = "val"): Sweep | null {
  if (!run) return null;
  const prefer = [split, "sweep", "threshold_sweep", "val", "test"];
  const found = findObject(run.curves, (value) => Array.isArray(value.thresholds), prefer) ?? findObject(run.metrics, (value) => Array.isArray(value.thresholds), prefer);
  return (found as unknown as Sweep) ?? null;
}

export function sweepPoints(sweep: Sweep | null): SweepPoint[] {
  if (!sweep) return [];
  const points: SweepPoint[] = [];
  sweep.thresholds.forEach((threshold, index) => {
    if (typeof threshold !== "number" || !Number.isFinite(threshold)) return;
    const point: SweepPoint = { threshold: Math.min(1, Math.max(0, threshold)) };
    for (const { key } of SWEEP_SERIES) {
      const value = sweep[key]?.[index];
      point[key] = typeof value === "number" && Number.isFinite(value) ? value : null;
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

/** The reliability (calibration) curve: mean confidence vs accuracy per bin, empty bins left out. */
export function reliabilityOf(run: Pick<Run, "curves" | "metrics"> | null | undefined): { confidence: number; accuracy: number; count: number | null }[] {
  if (!run) return [];
  const test = (value: Record<string, Json>) => Array.isArray(value.accuracy) && Array.isArray(value.confidence);
  const prefer = ["calibration", "reliability", "val", "after", "calibrated", "test"];
  const found = (findObject(run.curves, test, prefer) ?? findObject(run.metrics, test, prefer)) as unknown as Reliability | null;
  if (!found) return [];
  return found.confidence.flatMap((confidence, index) => {
    const accuracy = found.accuracy[index];
    if (typeof confidence !== "number" || typeof accuracy !== "number") return [];
    return [{ confidence, accuracy, count: found.count?.[index] ?? null }];
  });
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

/** One point per VIP with both precision and recall (the Distractor row is left out). */
export function perClassPoints(run: Pick<Run, "per_class"> | null | undefined): ClassPoint[] {
  const rows: PerClassRow[] = Array.isArray(run?.per_class) ? run!.per_class! : [];
  return rows.flatMap((row) => {
    if (row.class_index === -1 || row.name === "Distractor") return [];
    if (typeof row.precision !== "number" || typeof row.recall !== "number") return [];
    const diagnosis = Array.isArray(row.diagnosis) ? row.diagnosis.join(", ") : row.diagnosis ?? "ok";
    return [
      {
        identity: row.identity ?? row.identity_id ?? null,
        name: row.name,
        precision: row.precision,
        recall: row.recall,
        f1: row.f1 ?? null,
        support: row.support ?? null,
        diagnosis: diagnosis || "ok",
      },
    ];
  });
}

const HEADLINE_KEYS = ["mean_f1", "f1_auc", "total_accuracy", "kept_accuracy", "identification_accuracy", "distractor_accuracy", "ece"] as const;
export type HeadlineKey = (typeof HEADLINE_KEYS)[number];

/** A run's headline numbers on a split: found by name anywhere under metrics[split] (or metrics). */
export function headline(run: Pick<Run, "metrics"> | null | undefined, split: "val" | "test" = "test"): Partial<Record<HeadlineKey, number>> {
  const metrics = run?.metrics;
  if (!isRecord(metrics)) return {};
  const scope = isRecord(metrics[split]) ? metrics[split] : metrics;
  const out: Partial<Record<HeadlineKey, number>> = {};
  for (const key of HEADLINE_KEYS) {
    const found = findValue(scope, key, ["at_operating_point", "operating_point", "at_max_mean_f1", "at_max_total_accuracy"]);
    if (found !== null) out[key] = found;
  }
  return out;
}

function findValue(root: Json, key: string, prefer: string[], depth = 0): number | null {
  if (!isRecord(root) || depth > 4) return null;
  const direct = root[key];
  if (typeof direct === "number" && Number.isFinite(direct)) return direct;
  const keys = Object.keys(root).sort((a, b) => rank(a, prefer) - rank(b, prefer));
  for (const child of keys) {
    const found = findValue(root[child], key, prefer, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/** The run's state, whether the API nests its job or flattens it. */
export function runState(run: Run): { state: string; progress: number; jobId: number | null; message: string; error: string } {
  const job = isRecord(run.job) ? (run.job as Record<string, Json>) : null;
  return {
    state: String(job?.state ?? run.state ?? run.status ?? "unknown"),
    progress: Number(job?.progress ?? run.progress ?? 0),
    jobId: typeof run.job === "number" ? run.job : typeof job?.id === "number" ? (job.id as number) : typeof run.job_id === "number" ? (run.job_id as number) : null,
    message: String(job?.message ?? run.message ?? ""),
    error: String(job?.error ?? run.error ?? ""),
  };
}

/** Precision and recall of one identity in each run that had it as a VIP, oldest run first. */
export function identityHistory(runs: Run[], identity: number): { run: number; precision: number | null; recall: number | null; f1: number | null }[] {
  return [...runs]
    .sort((a, b) => a.id - b.id)
    .flatMap((run) => {
      const row = (run.per_class ?? []).find((entry) => (entry.identity ?? entry.identity_id) === identity);
      return row ? [{ run: run.id, precision: row.precision ?? null, recall: row.recall ?? null, f1: row.f1 ?? null }] : [];
    });
}
