/** Background jobs, filtered by kind and state; unfinished ones show a live progress bar. A job opens
 * to its own page: parameters, progress, result and per-file errors. */
import { Link, useParams, useSearchParams } from "react-router-dom";

import { api } from "../api/client";
import { FINISHED, JobProgress } from "../components/JobProgress";
import { when } from "../components/format";
import { Pager } from "../events/EventsScreen";
import { useInterval, useLoad, currentSearchParams } from "../hooks";
import { JOB_KINDS, JOB_STATES, jobKindLabel, readResult } from "../jobs/jobResult";

export function JobsPanel() {
  const [params, setParams] = useSearchParams();
  const kind = params.get("kind") ?? "";
  const state = params.get("state") ?? "";
  const page = Number(params.get("page") ?? 1);
  const jobs = useLoad(() => api.jobs.list({ page_size: 30, ordering: "-created_at", kind, state, page }), [kind, state, page]);
  const rows = jobs.data?.results ?? [];
  const running = rows.filter((job) => !FINISHED.has(job.state));
  useInterval(jobs.reload, 5000, running.length > 0);
  function update(key: string, value: string) {
    const next = currentSearchParams();
    if (value) next.set(key, value);
    else next.delete(key);
    if (key !== "page") next.delete("page");
    setParams(next, { replace: true });
  }
  return (
    <section className="panel" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs {jobs.data && <span className="muted">({jobs.data.count})</span>}</h2>
      <div className="filters">
        <label className="inline">
          Kind{" "}
          <select value={kind} onChange={(event) => update("kind", event.target.value)}>
            <option value="">Any</option>
            {JOB_KINDS.map((entry) => (
              <option key={entry.value} value={entry.value}>
                {entry.label}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          State{" "}
          <select value={state} onChange={(event) => update("state", event.target.value)}>
            <option value="">Any</option>
            {JOB_STATES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
      </div>
      {running.map((job) => (
        <JobProgress key={job.id} jobId={job.id} title={`${jobKindLabel(job.kind)} #${job.id}`} onFinished={jobs.reload} />
      ))}
      <div className="table-scroll">
        <table className="data compact" data-testid="jobs">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">By</th>
              <th scope="col">Created</th>
              <th scope="col">Took</th>
              <th scope="col">Message / error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((job) => (
              <tr key={job.id} data-job={job.id}>
                <td>
                  <Link to={`/manage/jobs/${job.id}`}>#{job.id}</Link>
                </td>
                <td>{jobKindLabel(job.kind)}</td>
                <td>
                  <span className={`badge state-${job.state}`}>{job.state}</span>
                </td>
                <td>{job.created_by ?? "–"}</td>
                <td>{when(job.created_at)}</td>
                <td>{job.duration_seconds != null ? `${job.duration_seconds.toFixed(1)} s` : "–"}</td>
                <td className={job.error ? "error" : "muted"}>{(job.error || job.message).slice(0, 160)}</td>
              </tr>
            ))}
            {!rows.length && !jobs.loading && (
              <tr>
                <td colSpan={7} className="muted">
                  No jobs{kind || state ? " match these filters" : " yet"}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager page={page} hasNext={Boolean(jobs.data?.next)} onPage={(value) => update("page", String(value))} />
    </section>
  );
}

export function JobPage() {
  const id = Number(useParams().id);
  const job = useLoad(() => api.jobs.get(id), [id]);
  const data = job.data;
  if (job.error) return <p className="error">{job.error}</p>;
  if (!data) return <p className="muted">Loading…</p>;
  const result = readResult(data.result);
  return (
    <section className="panel" aria-labelledby="job-title" data-testid="job-page">
      <p>
        <Link to="/manage/jobs">← All jobs</Link>
      </p>
      <h2 id="job-title">
        Job #{data.id}: {jobKindLabel(data.kind)}
      </h2>
      <JobProgress jobId={data.id} title={jobKindLabel(data.kind)} onFinished={(finished) => finished.state !== data.state && job.reload()} />
      <dl className="stats">
        <dt>Kind</dt>
        <dd>
          <code>{data.kind}</code>
        </dd>
        <dt>Queue</dt>
        <dd>{data.queue}</dd>
        <dt>By</dt>
        <dd>{data.created_by ?? "–"}</dd>
        <dt>Created</dt>
        <dd>{when(data.created_at)}</dd>
        <dt>Started</dt>
        <dd>{when(data.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{when(data.finished_at)}</dd>
        <dt>Attempts</dt>
        <dd>{data.attempts}</dd>
      </dl>
      <h3>Parameters</h3>
      <pre className="json" data-testid="job-params">
        {JSON.stringify(data.params ?? {}, null, 2)}
      </pre>
      <h3>Result</h3>
      {data.result == null && <p className="muted">{FINISHED.has(data.state) ? "No result." : "Not finished yet."}</p>}
      {result.numbers.length > 0 && (
        <dl className="stats" data-testid="job-result">
          {result.numbers.map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>{String(value)}</dd>
            </div>
          ))}
        </dl>
      )}
      {result.errors.length > 0 && (
        <>
          <h3>
            Files with errors <span className="muted">({result.errors.length})</span>
          </h3>
          <div className="table-scroll">
            <table className="data compact" data-testid="job-file-errors">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Why</th>
                  <th scope="col">Code</th>
                </tr>
              </thead>
              <tbody>
                {result.errors.map((row, index) => (
                  <tr key={`${row.name}-${index}`}>
                    <td className="long-name" title={row.name}>
                      {row.name}
                    </td>
                    <td className="error">{row.error}</td>
                    <td>
                      <code>{row.code}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {result.outcomes.length > 0 && (
        <details>
          <summary>Other files ({result.outcomes.length})</summary>
          <table className="data compact">
            <tbody>
              {result.outcomes.map((row, index) => (
                <tr key={`${row.name}-${index}`}>
                  <td className="long-name" title={row.name}>
                    {row.name}
                  </td>
                  <td>{row.status}</td>
                  <td>{row.faces != null ? `${row.faces} ${row.faces === 1 ? "face" : "faces"}` : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
      {data.result != null && (
        <details>
          <summary>The whole result</summary>
          <pre className="json">{JSON.stringify(data.result, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}
