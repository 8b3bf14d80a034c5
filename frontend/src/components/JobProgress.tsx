/** A live progress bar for a background Job: polls GET /jobs/{id}/ until it finishes. */
import { useEffect, useEffectEvent, useState } from "react";

import { api, type Job } from "../api/client";
import { useSession } from "../session";

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function JobProgress({ jobId, title, onFinished, interval = 1000 }: { jobId: number; title?: string; onFinished?: (job: Job) => void; interval?: number }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { isAdmin } = useSession();
  const finish = useEffectEvent((answer: Job) => onFinished?.(answer));

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const controller = new AbortController();
    async function poll() {
      try {
        const answer = await api.jobs.get(jobId, controller.signal);
        if (stopped) return;
        setJob(answer);
        setError(null);
        if (FINISHED.has(answer.state)) {
          finish(answer);
          return;
        }
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof Error ? caught.message : String(caught));
      }
      timer = window.setTimeout(poll, interval);
    }
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [jobId, interval]);

  const percent = Math.round((job?.progress ?? 0) * 100);
  const state = job?.state ?? "queued";
  return (
    <div className={`job job-${state}`} data-job={jobId} data-state={state}>
      <div className="job-head">
        <strong>{title ?? job?.kind ?? `Job ${jobId}`}</strong>
        <span className={`badge state-${state}`}>{state}</span>
      </div>
      <div
        className="progress"
        role="progressbar"
        aria-label={`${title ?? "Job"} progress`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={`${percent}% ${state}`}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <div className="job-foot">
        <span>{percent}%</span>
        {job?.message && <span className="muted">{job.message}</span>}
        {!FINISHED.has(state) && isAdmin && job && (
          <button type="button" className="link" disabled={job.cancel_requested} onClick={() => void api.jobs.cancel(jobId).then(setJob)}>
            {job.cancel_requested ? "Cancelling…" : "Cancel"}
          </button>
        )}
      </div>
      {job?.error && (
        <pre className="error" role="alert">
          {job.error}
        </pre>
      )}
      {error && <p className="error">{error}</p>}
    </div>
  );
}
