/**
 * Shapes of endpoints that are being written while this UI is, typed from the models and the
 * `ml/` result dictionaries they serialise (training/models.py, review/models.py, ml/metrics.py,
 * ml/calibration.py). Each type moves to `schema.d.ts` (via `npm run gen:api`) once its endpoint
 * is in openapi.yaml; the screens read them through the tolerant adapters in `adapters.ts`.
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

export interface PerClassRow {
  identity?: number | null;
  identity_id?: number | null;
  class_index?: number;
  name: string;
  precision: number | null;
  recall: number | null;
  f1?: number | null;
  support?: number;
  diagnosis?: string | string[] | null;
}

export interface Run {
  id: number;
  job?: number | { id: number; state: string; progress: number; message?: string; error?: string } | null;
  state?: string;
  status?: string;
  progress?: number;
  mode?: string;
  loss?: string;
  backbone?: string;
  config?: Record<string, unknown>;
  vips?: { index: number; identity: number; name: string; chunk?: number | null }[];
  chunk?: number | null;
  counts?: Record<string, unknown>;
  note?: string;
  metrics?: Record<string, unknown>;
  per_class?: PerClassRow[];
  curves?: Record<string, unknown>;
  confused_pairs?: unknown[];
  is_active?: boolean;
  active?: boolean;
  accepted?: boolean;
  created_at?: string;
  finished_at?: string | null;
  [key: string]: unknown;
}

export type RunMetrics = Pick<Run, "metrics" | "per_class" | "curves" | "confused_pairs">;

export interface OperatingPoint {
  run?: number;
  threshold: number;
  target_precision?: number | null;
  expected?: Record<string, unknown>;
  set_at?: string;
  [key: string]: unknown;
}

export interface QueueSummary {
  id: number;
  kind: string;
  title: string;
  open_items?: number;
  open_count?: number;
  size?: number;
  item_count?: number;
  is_open?: boolean;
  [key: string]: unknown;
}

export interface Suggestion {
  identity: number;
  name?: string;
  identity_name?: string;
  score?: number;
  probability?: number;
  confidence?: number;
  similarity?: number;
}

export interface QueueItem {
  id: number;
  face: unknown;
  identity?: number | null;
  identity_name?: string | null;
  score?: number;
  payload?: { reason?: string; suggestions?: Suggestion[]; top_k?: Suggestion[]; [key: string]: unknown };
  served_version?: number;
  leased_until?: string;
  [key: string]: unknown;
}

export interface StatusSummary {
  [key: string]: unknown;
}

export interface Diagnostics {
  [key: string]: unknown;
}
