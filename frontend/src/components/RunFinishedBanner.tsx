/**
 * Wherever the admin is, a run that finishes says so: a banner with its headline numbers (read at
 * the threshold named) and Accept / Compare. Polls the curation status while a run is in flight.
 */
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";

import { api, type RunDetail } from "../api/client";
import { METRIC_HELP, headline, runJustFinished } from "../dashboard/metrics";
import { useInterval } from "../hooks";
import { acceptQuestion } from "../admin/operatingPoint";
import { pct } from "./format";

type Latest = { run: number; state: string } | null;

export function RunFinishedBanner({ isAdmin }: { isAdmin: boolean }) {
  const last = useRef<Latest>(null);
  const [finished, setFinished] = useState<{ state: string; run: RunDetail | null; id: number; active: number | null } | null>(null);
  const [note, setNote] = useState<string | null>(null);

  // Every state change comes in a promise callback: the first poll starts in an effect (the status is the
  // server's, an external system), the next ones on the interval.
  function poll(): Promise<void> {
    return api.curation
      .status()
      .then(async (status) => {
        const now = (status.latest_run ?? null) as Latest;
        const done = runJustFinished(last.current, now);
        last.current = now;
        if (!done) return;
        const run = done.state === "succeeded" ? await api.runs.get(done.run) : null;
        setNote(null);
        setFinished({ state: done.state, run, id: done.run, active: status.active_model?.run ?? null });
      })
      .catch(() => undefined); // a failed poll is retried at the next tick
  }

  useEffect(() => {
    void poll();
  }, []);
  useInterval(() => void poll(), 4000, isAdmin);

  if (!isAdmin || !finished) return null;
  const named = headline(finished.run as { headline?: never } | null);
  return (
    <div className={`banner ${finished.state === "succeeded" ? "ok" : "warn"}`} role="status" data-testid="run-finished">
      <strong>Run {finished.id} {finished.state}.</strong>{" "}
      {finished.state === "succeeded" && named.label ? (
        <>
          Validation {named.label}: <span title={METRIC_HELP.precision}>precision {pct(named.precision)}</span> ·{" "}
          <span title={METRIC_HELP.recall}>recall {pct(named.recall)}</span> · <span title={METRIC_HELP.mean_f1}>mean F1 {pct(named.mean_f1)}</span>{" "}
          · <span title={METRIC_HELP.f1_auc}>F1 AUC {pct(named.f1_auc)}</span>.{" "}
        </>
      ) : finished.state !== "succeeded" ? (
        "The active model is unchanged. "
      ) : null}
      {finished.state === "succeeded" && finished.run?.has_model && !finished.run.is_active && (
        <button
          type="button"
          onClick={() => {
            if (!window.confirm(acceptQuestion(finished.id, finished.active))) return;
            api.runs
              .accept(finished.id)
              .then(() => setNote(`Run ${finished.id} is now the active model.`))
              .catch((error: unknown) => setNote(error instanceof Error ? error.message : String(error)));
          }}
        >
          Accept
        </button>
      )}{" "}
      <Link to={`/dashboard?run=${finished.id}`}>Compare</Link>{" "}
      <button type="button" className="secondary" onClick={() => setFinished(null)} aria-label="Close">
        ×
      </button>
      {note && <span className="status-line"> {note}</span>}
    </div>
  );
}
