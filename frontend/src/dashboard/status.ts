/**
 * GET /api/v1/status/ (webapp.training.selectors.curation_status): the dashboard header.
 * Typed here until the endpoint is in openapi.yaml; `asStatus` accepts a missing endpoint (null).
 */
export interface GateCheck {
  metric: string;
  value: number | null;
  minimum: number;
  passed: boolean;
}

export interface CurationStatus {
  vip_count?: number;
  candidate_count?: number;
  chunk?: number | null;
  active_model?: {
    run: number;
    mode?: string;
    loss?: string;
    accepted_at?: string;
    accepted_by?: string | null;
    automatic?: boolean;
    vip_count?: number;
    metrics?: Record<string, unknown>;
    operating_point?: { threshold: number; target_precision?: number | null; expected?: Record<string, unknown> } | null;
  } | null;
  latest_run?: { run: number; state: string; progress: number; created_at?: string; job?: number } | null;
  run_in_progress?: { run: number; state: string; progress: number; job?: number } | null;
  queues?: { queue: number; kind: string; title: string; run?: number | null; chunk?: number | null; open: number; leased?: number; decided: number; total: number }[];
  gate?: {
    required: boolean;
    passed: boolean;
    reason: string;
    run?: number | null;
    threshold?: number | null;
    checks?: GateCheck[];
    minima?: Record<string, number>;
    weak_identities?: { identity: number; name: string; precision?: number | null; recall?: number | null; diagnosis?: string }[];
  };
}

export function asStatus(value: unknown): CurationStatus | null {
  return value && typeof value === "object" ? (value as CurationStatus) : null;
}
