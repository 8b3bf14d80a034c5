/** Recent background jobs; unfinished ones show a live progress bar. */
import { api } from "../api/client";
import { FINISHED, JobProgress } from "../components/JobProgress";
import { when } from "../components/format";
import { useInterval, useLoad } from "../hooks";

export function JobsPanel() {
  const jobs = useLoad(() => api.jobs.list({ page_size: 30, ordering: "-created_at" }), []);
  const rows = jobs.data?.results ?? [];
  const running = rows.filter((job) => !FINISHED.has(job.state));
  useInterval(jobs.reload, 5000, running.length > 0);
  return (
    <section className="panel" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      {running.map((job) => (
        <JobProgress key={job.id} jobId={job.id} title={`${job.kind} #${job.id}`} onFinished={jobs.reload} />
      ))}
      <table className="data compact">
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
            <tr key={job.id}>
              <td>#{job.id}</td>
              <td>{job.kind}</td>
              <td>
                <span className={`badge state-${job.state}`}>{job.state}</span>
              </td>
              <td>{job.created_by ?? "–"}</td>
              <td>{when(job.created_at)}</td>
              <td>{job.duration_seconds != null ? `${job.duration_seconds.toFixed(1)} s` : "–"}</td>
              <td className={job.error ? "error" : "muted"}>{(job.error || job.message).slice(0, 160)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
