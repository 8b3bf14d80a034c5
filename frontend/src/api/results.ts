/**
 * The JSON documents inside API rows: what the training task stores in a run's `metrics`,
 * `per_class` and curves (from ml.metrics, ml.calibration, ml.train), what review items carry in
 * `payload`, and the dictionaries of /status/. The OpenAPI schema types these fields as free-form
 * objects, so their shapes are written down here, next to the producers they mirror:
 * webapp/training/services.py (_headline_metrics, _per_class, run.curves),
 * webapp/training/selectors.py (curation_status, gate_status), webapp/review/builders.py.
 */

/** ml.metrics.ThresholdSweep.as_dict(): one list per metric, aligned with `thresholds`. */
export interface Sweep {
  thresholds: (number | null)[];
  distractor_accuracy?: (number | null)[];
  identification_accuracy?: (number | null)[];
  total_accuracy?: (number | null)[];
  kept_accuracy?: (number | null)[];
  vip_acceptance?: (number | null)[];
  mean_f1?: (number | null)[];
}

/** ml.calibration.ReliabilityCurve.as_dict(). */
export interface Reliability {
  bin_edges?: number[];
  confidence: (number | null)[];
  accuracy: (number | null)[];
  count?: number[];
}

/** ml.train's calibration report for one split: before/after temperature scaling, VIP samples and all. */
export interface CalibrationReport {
  before?: { vip?: { ece: number; curve: Reliability }; all?: { ece: number; curve: Reliability } };
  after?: { vip?: { ece: number; curve: Reliability }; all?: { ece: number; curve: Reliability } };
}

/** A run's numbers on one split at the threshold of max mean F1 (training/services._headline_metrics). */
export interface SplitMetrics {
  f1_auc?: number | null;
  threshold?: number | null;
  mean_f1?: number | null;
  kept_accuracy?: number | null;
  identification_accuracy?: number | null;
  total_accuracy?: number | null;
  distractor_accuracy?: number | null;
  vip_acceptance?: number | null;
  ece_before?: number | null;
  ece_after?: number | null;
}

export interface RunMetrics {
  temperature?: number;
  operating_points?: Record<string, number | null>;
  counts?: Record<string, unknown>;
  /** What scored the faces: "fused" (the VIP gallery and the head where they agree), "gallery" or "head", and why not the one asked. */
  scorer?: { name: string; reason: string };
  val?: SplitMetrics | null;
  test?: SplitMetrics | null;
}

/** One VIP of a run (training/services._per_class). */
export interface PerClassRow {
  class_index?: number;
  identity?: number | null;
  name: string;
  chunk?: number | null;
  precision: number | null;
  recall: number | null;
  f1?: number | null;
  support?: number | null;
  diagnosis?: string | null;
  reasons?: string[];
}

export interface ConfusedPair {
  a: number;
  b: number;
  name_a: string;
  name_b: string;
  a_as_b?: number;
  b_as_a?: number;
  rate?: number;
  identity_a: number;
  identity_b: number;
}

/** What the review builders put in an item's payload. */
export interface ItemPayload {
  reason?: string;
  label?: string | null;
  predicted?: string | null;
  confidence?: number;
  noise_score?: number;
  suggestions?: { identity: number; name: string; probability: number | null }[];
  looks_like?: string | null;
  [key: string]: unknown;
}

export interface GateCheck {
  metric: string;
  value: number | null;
  minimum: number;
  passed: boolean;
}

export interface Gate {
  required: boolean;
  passed: boolean;
  reason: string;
  run?: number | null;
  threshold?: number | null;
  checks?: GateCheck[];
  minima?: Record<string, number>;
  weak_identities?: { identity: number; name: string; precision?: number | null; recall?: number | null; diagnosis?: string }[];
  /** The model's numbers the gate read, named ("at the operating point 0.780"). */
  headline?: NamedMetrics;
}

/** A run's metrics on validation at one named threshold (selectors.run_metrics_at on the server). */
export interface NamedMetrics {
  threshold: number;
  split: string;
  basis: string;
  label: string;
  precision: number | null;
  recall: number | null;
  mean_f1: number | null;
  distractor_accuracy: number | null;
  vip_acceptance: number | null;
  total_accuracy?: number | null;
  f1_auc: number | null;
}

export interface ActiveModel {
  run: number;
  mode?: string;
  loss?: string;
  accepted_at?: string;
  accepted_by?: string | null;
  automatic?: boolean;
  vip_count?: number;
  metrics?: RunMetrics;
  operating_point?: { threshold: number; target_precision?: number | null; far?: number | null; unknown_share?: number | null; expected?: Record<string, unknown>; estimate?: Record<string, unknown> } | null;
  headline?: NamedMetrics | null;
}

export interface QueueSize {
  queue: number;
  kind: string;
  title: string;
  run?: number | null;
  chunk?: number | null;
  open: number;
  leased?: number;
  decided: number;
  total: number;
}

/** GET /status/ (training/selectors.curation_status) with its dictionaries spelled out. */
export interface CurationStatus {
  vip_count: number;
  candidate_count: number;
  chunk: number | null;
  active_model: ActiveModel | null;
  latest_run: { run: number; state: string; progress: number; created_at?: string } | null;
  /** The model active before the current one: what a rollback returns to. */
  previous_model?: { run: number; accepted_at?: string } | null;
  run_in_progress: { run: number; state: string; progress: number } | null;
  queues: QueueSize[];
  gate: Gate;
}
