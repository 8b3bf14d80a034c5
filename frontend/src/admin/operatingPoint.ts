/** Reading the operating-point form: values that must lie in 0–1, and false-tag rates said plainly. */

export type Parsed = { value: number; error?: undefined } | { value?: undefined; error: string };

/**
 * A number between 0 and 1 typed by an admin, or a message saying why it is refused. `open`
 * excludes both ends (a false-tag rate of 0 or 1 cannot be measured).
 */
export function unitValue(text: string, label: string, { open = false }: { open?: boolean } = {}): Parsed {
  const trimmed = text.trim();
  if (trimmed === "") return { error: `Enter the ${label}, a number between 0 and 1.` };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { error: `The ${label} must be a number between 0 and 1 (got "${trimmed}").` };
  if (open ? value <= 0 || value >= 1 : value < 0 || value > 1) {
    return { error: `The ${label} must lie ${open ? "strictly " : ""}between 0 and 1 (got ${trimmed}).` };
  }
  return { value };
}

/** 0.001 -> "0.1% (1 in 1,000)": a rate and what it means in faces. */
export function farLabel(far: number): string {
  const percent = far * 100;
  const shown = percent >= 1 ? percent.toFixed(0) : percent >= 0.1 ? percent.toFixed(1) : percent.toFixed(2);
  return `${shown}% (1 in ${Math.round(1 / far).toLocaleString("en-US")})`;
}

/** What chose a point's threshold, as the panel says it (webapp OperatingPoint.Rule). */
export type RuleFacts = {
  rule: string;
  far?: number | null;
  target_precision?: number | null;
  estimate?: { far_used?: number } | unknown;
};

export function ruleSentence(point: RuleFacts): string {
  const used = (point.estimate as { far_used?: number } | undefined)?.far_used ?? point.far ?? null;
  switch (point.rule) {
    case "far":
      return used != null ? `chosen for a false-tag rate of ${farLabel(used)} on unknown faces` : "chosen for a false-tag rate";
    case "lowest_measurable_far":
      return (
        `chosen for a false-tag rate of ${used != null ? farLabel(used) : "?"}, the lowest val measures` +
        (point.far != null ? ` (${farLabel(point.far)} asked)` : "")
      );
    case "target_precision":
      return point.target_precision != null ? `chosen for precision ${(point.target_precision * 100).toFixed(1)}%` : "chosen for a precision";
    case "target_precision_fallback":
      return (
        `chosen for the default precision ${point.target_precision != null ? `${(point.target_precision * 100).toFixed(1)}%` : ""}` +
        (point.far != null ? ` instead of a false-tag rate of ${farLabel(point.far)}` : "")
      );
    default:
      return "set directly";
  }
}

/** Precision of what gets tagged: R(1-u) / (A(1-u) + FAR u) (ml.operating_point.implied_precision). */
export function impliedPrecision(recall: number, acceptance: number, far: number, unknownShare: number): number | null {
  const denominator = acceptance * (1 - unknownShare) + far * unknownShare;
  return denominator > 0 ? (recall * (1 - unknownShare)) / denominator : null;
}

/** What accepting a run changes, asked before it happens. */
export function acceptQuestion(run: number, activeRun: number | null): string {
  return (
    `Make run ${run} the active model${activeRun != null ? ` in place of run ${activeRun}` : ""}? ` +
    "Video tagging and the promotion gate will use it from now on, at the operating point carried over " +
    "(the same false-tag rate or precision target). You can roll back to the previous model."
  );
}

/** What promoting the next chunk changes, asked before it happens. */
export function promoteQuestion(overridden: boolean): string {
  return (
    "Promote the next chunk of candidates (by popularity) to VIPs? They join the VIP set, a review queue opens " +
    "to verify their faces, and the active model no longer covers every VIP: train and accept a new run next." +
    (overridden ? " The gate is not met: your override reason is recorded on the chunk." : "")
  );
}

/** What a rollback changes, asked before it happens. */
export function rollbackQuestion(activeRun: number, previousRun: number): string {
  return (
    `Roll back from run ${activeRun} to run ${previousRun}? Run ${previousRun} becomes the active model again, ` +
    "with the operating point it had; tags already proposed stay until videos are tagged again."
  );
}
