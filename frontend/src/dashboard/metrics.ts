/**
 * Reading a training run's stored results (metrics, per-class report, curves: the JSON written
 * by the training task from ml.metrics / ml.calibration, see api/results.ts) into plain series
 * for the charts. Kept apart from the charts so the reading is unit-tested on its own.
 */
import type { RunCurves, RunDetail, Schemas } from "../api/client";
import type { CalibrationReport, PerClassRow, Sweep } from "../api/results";

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

/**
 * A run's headline: its numbers on validation at ONE named threshold (the operating point for the
 * active model; the threshold it would get for any other run), as the server computes them for
 * every surface (runs table, dashboard, gate, operating-point panel, curation_status).
 */
export type Headline = NonNullable<Schemas["RunList"]["headline"]>;

export function headline(run: { headline?: Headline | null } | null | undefined): Partial<Headline> {
  return run?.headline ?? {};
}

/** One-line explanations shown on hover beside each metric. */
export const METRIC_HELP = {
  precision: "Precision (kept accuracy): of the faces the model tags as a VIP, the share given the right name.",
  recall: "Recall (identification accuracy): of the VIP faces, the share tagged with the right name.",
  mean_f1: "Mean F1: the harmonic mean of each VIP's precision and recall, averaged over the VIPs.",
  f1_auc: "F1 AUC: the area under mean F1 across every threshold; one number for the model, whatever the threshold.",
  total_accuracy: "Total accuracy: the share of all faces handled right: VIPs named right, unknown faces left untagged.",
  distractor_accuracy: "Distractors rejected: the share of unknown people's faces left untagged.",
  far: "False-tag rate: the share of unknown people's faces tagged as some VIP, measured on val people never trained on.",
  implied_precision: "Implied precision: the precision to expect in your videos, given the share of faces that are unknown there.",
  threshold: "Threshold: a face is tagged when the model's confidence for its top VIP is at least this.",
} as const;

export const FINISHED_STATES = ["succeeded", "failed", "cancelled"];

/** A run's state said as what it is, with a hover hint: queued is waiting, running shows its progress. */
export function runStateText(
  state: string,
  progress?: number | null,
  message?: string | null,
): { label: string; hint: string } {
  if (state === "running" && message?.startsWith("snapshotting")) {
    return {
      label: "snapshotting",
      hint: "A worker is freezing the label and split of every usable face (the run's snapshot); training starts next.",
    };
  }
  switch (state) {
    case "queued":
      return { label: "queued", hint: "Waiting for a training worker to pick it up; nothing has been trained yet." };
    case "running":
      return {
        label: typeof progress === "number" ? `running ${Math.round(progress * 100)}%` : "running",
        hint: "A worker is training it now; the numbers appear when it finishes.",
      };
    case "succeeded":
      return { label: "succeeded", hint: "Finished: accept it to make it the active model, or compare it." };
    case "failed":
      return { label: "failed", hint: "Stopped with an error; the active model is unchanged. Restart it from its snapshot." };
    case "cancelled":
      return { label: "cancelled", hint: "Cancelled before it finished; the active model is unchanged." };
    default:
      return { label: state, hint: state };
  }
}

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

/** What a team should do next, and where in the UI (the dashboard shows it until the loop runs). */
export interface NextStep {
  title: string;
  detail: string;
  link: string | null;
  action: string | null;
}

type StepStatus = {
  vip_count?: number | null;
  active_model?: { run: number } | null;
  run_in_progress?: { run: number; state: string; progress: number } | null;
  queues?: { open: number; kind: string }[];
};

export function nextStep(status: StepStatus | null | undefined, runs: { id: number; state: string }[] | null | undefined): NextStep | null {
  if (!status || !runs) return null;
  const training = "/manage/training";
  if (!status.vip_count) {
    return { title: "Promote the first chunk of VIPs", detail: "Pick the first candidates (by popularity) as VIPs: the model learns to recognise them.", link: training, action: "Admin › Training › Promote the next chunk" };
  }
  if (status.run_in_progress) {
    const { run, state } = status.run_in_progress;
    return { title: `Run ${run} is ${state}`, detail: state === "queued" ? "It waits for a training worker; it starts as soon as one is free." : "A worker is training it; its numbers appear here when it finishes.", link: training, action: "Admin › Training" };
  }
  const succeeded = runs.filter((run) => run.state === "succeeded");
  if (!succeeded.length) {
    return { title: "Train a first model", detail: `Train a model on the labelled faces of ${status.vip_count === 1 ? "the one VIP" : `the ${status.vip_count} VIPs`} (a head run takes seconds to minutes).`, link: training, action: "Admin › Training › Start retrain" };
  }
  const newest = Math.max(...succeeded.map((run) => run.id));
  if (!status.active_model) {
    return { title: `Accept run ${newest}`, detail: "Make it the active model: video tagging and the promotion gate use it.", link: training, action: `Admin › Training › Runs › Accept` };
  }
  const open = (status.queues ?? []).reduce((sum, queue) => sum + queue.open, 0);
  if (open > 0) {
    return { title: "Review the faces most likely wrong", detail: `${open} faces wait in the review queues, most likely wrong first.`, link: "/review", action: "Review" };
  }
  return null;
}

/** The run that just finished between two status polls: it was queued or running, now it is not. */
export function runJustFinished(
  before: { run: number; state: string } | null | undefined,
  now: { run: number; state: string } | null | undefined,
): { run: number; state: string } | null {
  if (!before || !now || FINISHED_STATES.includes(before.state)) return null;
  if (now.run === before.run && FINISHED_STATES.includes(now.state)) return now;
  return null;
}
