/**
 * The dashboard (read-only for annotators): where the model stands and what to do next.
 * Per-class precision/recall, threshold sweep with the operating point, calibration, run
 * history, queue sizes, the VIP chunk and the promotion gate.
 */
import { useMemo } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api, type CurationStatus, type RunRow } from "../api/client";
import { JobProgress } from "../components/JobProgress";
import { num, pct, queueTitle, when } from "../components/format";
import { useDocumentTitle, useInterval, useLoad, currentSearchParams } from "../hooks";
import { CalibrationChart, PerClassScatter, RunHistoryChart, SweepChart, diagnosisColor, type HistoryPoint } from "./charts";
import { RunState } from "../components/RunState";
import { MyQuality } from "./MyQuality";
import { METRIC_HELP, calibrationOf, headline, nextStep, perClassPoints, sweepOf, sweepPoints } from "./metrics";

const HISTORY_SERIES = [
  { key: "mean_f1", label: "Mean F1", color: "#c4b5fd" },
  { key: "f1_auc", label: "F1 AUC", color: "#34d399" },
  { key: "total_accuracy", label: "Total accuracy", color: "#60a5fa" },
  { key: "kept_accuracy", label: "Kept accuracy", color: "#f472b6" },
];

export default function Dashboard() {
  useDocumentTitle("Dashboard");
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const status = useLoad(() => api.curation.status(), []);
  const runs = useLoad(async () => (await api.runs.list()).results, []);
  const inProgress = status.data?.run_in_progress ?? null;
  useInterval(() => {
    status.reload();
    runs.reload();
  }, 5000, Boolean(inProgress));

  const activeRunId = status.data?.active_model?.run ?? null;
  const chosenId = params.get("run") ? Number(params.get("run")) : activeRunId ?? latestSucceeded(runs.data ?? [])?.id ?? null;
  const run = useLoad(async () => (chosenId ? Promise.all([api.runs.get(chosenId), api.runs.curves(chosenId)]) : null), [chosenId]);
  const [detail, curves] = run.data ?? [null, null];

  const points = useMemo(() => perClassPoints(detail), [detail]);
  const sweep = useMemo(() => sweepPoints(sweepOf(curves)), [curves]);
  const calibration = useMemo(() => calibrationOf(curves), [curves]);
  // One truth: the run's headline names its threshold (the operating point for the active model,
  // the threshold it would get for another run) and gives the numbers read there.
  const named = headline(runs.data?.find((entry) => entry.id === chosenId));
  const threshold = named.threshold ?? null;
  const history: HistoryPoint[] = useMemo(
    () =>
      [...(runs.data ?? [])]
        .filter((entry) => entry.state === "succeeded")
        .sort((a, b) => a.id - b.id)
        .map((entry) => {
          const metrics = headline(entry);
          return { run: entry.id, mean_f1: metrics.mean_f1 ?? null, f1_auc: metrics.f1_auc ?? null, total_accuracy: metrics.total_accuracy ?? null, kept_accuracy: metrics.precision ?? null };
        }),
    [runs.data],
  );
  const inProgressJob = inProgress ? runs.data?.find((entry) => entry.id === inProgress.run)?.job ?? null : null;
  const unavailable = runs.data?.length === 0 && !runs.loading;
  const step = nextStep(status.data ?? null, runs.data ?? null);

  return (
    <section className="dashboard" aria-labelledby="dashboard-title">
      <header className="dashboard-head">
        <h1 id="dashboard-title">Dashboard</h1>
        <label className="inline">
          Run{" "}
          <select
            value={chosenId ?? ""}
            onChange={(event) => {
              const next = currentSearchParams();
              if (event.target.value) next.set("run", event.target.value);
              else next.delete("run");
              setParams(next);
            }}
          >
            {!chosenId && <option value="">No run yet</option>}
            {(runs.data ?? []).map((entry) => (
              <option key={entry.id} value={entry.id}>
                Run {entry.id} · {entry.mode}/{entry.loss} · {entry.state}
                {entry.id === activeRunId ? " · active" : ""}
              </option>
            ))}
          </select>
        </label>
      </header>
      {step && (
        <section className="panel next-step" aria-labelledby="next-step-title" data-testid="next-step">
          <h2 id="next-step-title">Next step: {step.title}</h2>
          <p>
            {step.detail}
            {step.link && step.action && (
              <>
                {" "}
                <Link to={step.link}>{step.action}</Link>
              </>
            )}
          </p>
        </section>
      )}
      {unavailable && <p className="muted">No training run yet: the charts appear once a run has finished.</p>}
      {(status.error || runs.error) && <p className="error">{status.error ?? runs.error}</p>}

      <MyQuality />

      <StatusPanels status={status.data ?? null} inProgressJob={inProgressJob} onFinished={() => { status.reload(); runs.reload(); }} />

      <div className="chart-grid">
        <section className="panel chart" aria-labelledby="scatter-title" data-testid="chart-per-class">
          <h2 id="scatter-title">Per-VIP precision and recall {chosenId && <span className="muted">(run {chosenId}, test)</span>}</h2>
          {points.length ? (
            <>
              <PerClassScatter points={points} onOpen={(point) => point.identity != null && navigate(`/identities/${point.identity}`)} />
              <p className="chart-legend">
                {["ok", "low_precision", "low_recall"].map((diagnosis) => (
                  <span key={diagnosis}>
                    <span className="swatch" style={{ background: diagnosisColor(diagnosis) }} /> {diagnosis.replace("_", " ")}
                  </span>
                ))}
                <span className="muted">Click a point to open the identity.</span>
              </p>
              <details>
                <summary>Table</summary>
                <table className="data compact">
                  <thead>
                    <tr>
                      <th scope="col">VIP</th>
                      <th scope="col" className="num">Precision</th>
                      <th scope="col" className="num">Recall</th>
                      <th scope="col" className="num">F1</th>
                      <th scope="col">Diagnosis</th>
                    </tr>
                  </thead>
                  <tbody>
                    {points.map((point) => (
                      <tr key={point.name}>
                        <td>{point.identity != null ? <Link to={`/identities/${point.identity}`}>{point.name}</Link> : point.name}</td>
                        <td className="num">{pct(point.precision)}</td>
                        <td className="num">{pct(point.recall)}</td>
                        <td className="num">{pct(point.f1)}</td>
                        <td>{point.diagnosis}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            </>
          ) : (
            <p className="muted">{run.loading ? "Loading…" : "No per-class results for this run."}</p>
          )}
        </section>

        <section className="panel chart" aria-labelledby="sweep-title" data-testid="chart-sweep">
          <h2 id="sweep-title">Threshold sweep {chosenId && <span className="muted">(validation)</span>}</h2>
          {sweep.length ? (
            <>
              <SweepChart points={sweep} threshold={threshold} />
              {named.label && (
                <p className="muted" data-testid="sweep-headline">
                  Validation {named.label}: <span title={METRIC_HELP.precision}>precision {pct(named.precision)}</span>,{" "}
                  <span title={METRIC_HELP.recall}>recall {pct(named.recall)}</span>,{" "}
                  <span title={METRIC_HELP.distractor_accuracy}>distractors rejected {pct(named.distractor_accuracy)}</span>,{" "}
                  <span title={METRIC_HELP.mean_f1}>mean F1 {pct(named.mean_f1)}</span>.
                </p>
              )}
            </>
          ) : (
            <p className="muted">{run.loading ? "Loading…" : "No threshold sweep for this run."}</p>
          )}
        </section>

        <section className="panel chart" aria-labelledby="calibration-title" data-testid="chart-calibration">
          <h2 id="calibration-title">Calibration {chosenId && <span className="muted">(validation, VIP faces)</span>}</h2>
          {calibration.points.length ? (
            <>
              <CalibrationChart points={calibration.points} />
              <p className="muted">
                Expected calibration error {pct(calibration.eceBefore)} before temperature scaling, {pct(calibration.eceAfter)} after.
              </p>
            </>
          ) : (
            <p className="muted">{run.loading ? "Loading…" : "No calibration curve for this run."}</p>
          )}
        </section>

        <section className="panel chart" aria-labelledby="history-title" data-testid="chart-history">
          <h2 id="history-title">Run history</h2>
          {history.length ? <RunHistoryChart points={history} series={HISTORY_SERIES} /> : <p className="muted">No finished runs yet.</p>}
        </section>
      </div>

      {detail?.confused_pairs && detail.confused_pairs.length > 0 && (
        <section className="panel" aria-labelledby="pairs-title">
          <h2 id="pairs-title">Most confused VIP pairs (run {detail.id})</h2>
          <ul className="pairs">
            {detail.confused_pairs.slice(0, 10).map((pair) => (
              <li key={`${pair.a}-${pair.b}`}>
                <Link to={`/identities/${pair.identity_a}`}>{pair.name_a}</Link> ↔ <Link to={`/identities/${pair.identity_b}`}>{pair.name_b}</Link>{" "}
                <span className="muted">
                  {pair.a_as_b ?? 0} + {pair.b_as_a ?? 0} confusions{pair.rate != null ? ` (${pct(pair.rate)})` : ""}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}

      <QueueTable queues={status.data?.queues ?? []} />

      <RunTable runs={runs.data ?? []} activeRunId={activeRunId} />
    </section>
  );
}

function latestSucceeded(runs: RunRow[]): RunRow | undefined {
  return [...runs].sort((a, b) => b.id - a.id).find((run) => run.state === "succeeded");
}

function StatusPanels({ status, inProgressJob, onFinished }: { status: CurationStatus | null; inProgressJob: number | null; onFinished: () => void }) {
  if (!status) return null;
  const gate = status.gate;
  const active = status.active_model;
  const openItems = status.queues.reduce((sum, queue) => sum + queue.open, 0);
  return (
    <div className="status-panels">
      <section className="panel" aria-labelledby="vips-title">
        <h2 id="vips-title">VIPs</h2>
        <p className="big">{status.vip_count ?? "–"}</p>
        <p className="muted">
          chunk {status.chunk ?? "–"} · {status.candidate_count ?? "–"} candidates
        </p>
      </section>
      <section className="panel" aria-labelledby="model-title">
        <h2 id="model-title">Active model</h2>
        {active ? (
          <>
            <p className="big">
              <Link to={`/dashboard?run=${active.run}`}>Run {active.run}</Link>
            </p>
            <p className="muted">
              {active.mode}/{active.loss} · accepted {when(active.accepted_at)}
              {active.accepted_by ? ` by ${active.accepted_by}` : ""}
              {active.operating_point ? ` · threshold ${num(active.operating_point.threshold, 3)}` : ""}
              {active.operating_point?.far != null ? ` (false-tag rate ${pct(active.operating_point.far, 2)})` : active.operating_point?.target_precision != null ? ` (target precision ${pct(active.operating_point.target_precision, 0)})` : ""}
            </p>
            {active.headline && (
              <p data-testid="active-headline">
                Validation {active.headline.label}: <span title={METRIC_HELP.precision}>precision {pct(active.headline.precision)}</span> ·{" "}
                <span title={METRIC_HELP.recall}>recall {pct(active.headline.recall)}</span> · <span title={METRIC_HELP.mean_f1}>mean F1 {pct(active.headline.mean_f1)}</span> ·{" "}
                <span title={METRIC_HELP.f1_auc}>F1 AUC {pct(active.headline.f1_auc)}</span>
              </p>
            )}
          </>
        ) : (
          <p className="muted">None accepted yet.</p>
        )}
        {status.run_in_progress && (
          <div className="in-progress">
            {inProgressJob ? (
              <JobProgress jobId={inProgressJob} title={`Run ${status.run_in_progress.run}`} onFinished={onFinished} />
            ) : (
              <p>
                Run {status.run_in_progress.run} {status.run_in_progress.state} ({pct(status.run_in_progress.progress, 0)})
              </p>
            )}
          </div>
        )}
      </section>
      <section className="panel" aria-labelledby="gate-title" data-testid="gate">
        <h2 id="gate-title">Promotion gate</h2>
        {gate ? (
          <>
            <p className={gate.passed ? "ok big" : "warn big"} title={gate.reason}>
              {gate.passed ? "Passed" : "Not met"}
            </p>
            {gate.checks && gate.checks.length > 0 && (
              <ul className="checks">
                {gate.checks.map((check) => (
                  <li key={check.metric} className={check.passed ? "ok" : "warn"}>
                    {check.passed ? "✓" : "✗"} {check.metric.replace("_", " ")} {pct(check.value)} (min {pct(check.minimum, 0)})
                  </li>
                ))}
              </ul>
            )}
          </>
        ) : (
          <p className="muted">–</p>
        )}
        {gate && !gate.checks?.length && <p className="muted small">{gate.reason}</p>}
      </section>
      <section className="panel" aria-labelledby="queues-title" data-testid="queues">
        <h2 id="queues-title">Review queues</h2>
        <p className="big">{openItems}</p>
        <p className="muted">
          open items in {status.queues.filter((queue) => queue.open > 0).length} queues{" "}
          {openItems > 0 && <Link to="/review">· review now</Link>}
        </p>
      </section>
    </div>
  );
}

function QueueTable({ queues }: { queues: CurationStatus["queues"] }) {
  if (!queues.length) return null;
  return (
    <section className="panel" aria-labelledby="queue-table-title">
      <h2 id="queue-table-title">Open review queues</h2>
      <table className="data compact" data-testid="queue-table">
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">From</th>
            <th scope="col" className="num">Open</th>
            <th scope="col" className="num">Leased</th>
            <th scope="col" className="num">Decided</th>
          </tr>
        </thead>
        <tbody>
          {queues.map((queue) => (
            <tr key={queue.queue} className={queue.open ? undefined : "muted"}>
              <td>{queue.open ? <Link to={`/review?queue=${queue.queue}`}>{queueTitle(queue.title)}</Link> : queueTitle(queue.title)}</td>
              <td>{queue.run != null ? `run ${queue.run}` : queue.chunk != null ? `chunk ${queue.chunk}` : "–"}</td>
              <td className="num">{queue.open}</td>
              <td className="num">{queue.leased ?? 0}</td>
              <td className="num">
                {queue.decided} / {queue.total}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function RunTable({ runs, activeRunId }: { runs: RunRow[]; activeRunId: number | null }) {
  if (!runs.length) return null;
  return (
    <section className="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <table className="data" data-testid="runs-table">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Mode / loss</th>
            <th scope="col">State</th>
            <th scope="col">Started</th>
            <th scope="col" className="num">Samples</th>
            <th scope="col" className="num" title={METRIC_HELP.precision}>Precision</th>
            <th scope="col" className="num" title={METRIC_HELP.recall}>Recall</th>
            <th scope="col" className="num" title={METRIC_HELP.mean_f1}>Mean F1</th>
            <th scope="col" className="num" title={METRIC_HELP.f1_auc}>F1 AUC</th>
            <th scope="col" title="Every number of a row is read on validation at this threshold.">Read at</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const metrics = headline(run);
            return (
              <tr key={run.id}>
                <td>
                  <Link to={`/dashboard?run=${run.id}`}>#{run.id}</Link> {run.id === activeRunId && <span className="badge ok">active</span>}
                </td>
                <td>
                  {run.mode}/{run.loss}
                </td>
                <td>
                  <RunState state={run.state} progress={run.progress} />
                </td>
                <td>{when(run.created_at)}</td>
                <td className="num">{runVipCount(run)}</td>
                <td className="num">{pct(metrics.precision)}</td>
                <td className="num">{pct(metrics.recall)}</td>
                <td className="num">{pct(metrics.mean_f1)}</td>
                <td className="num">{pct(metrics.f1_auc)}</td>
                <td className="muted">{metrics.label ?? "–"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function runVipCount(run: RunRow): string {
  const counts = run.counts as { vip?: number; distractor?: number } | null;
  return counts?.vip != null ? `${counts.vip} VIP / ${counts.distractor ?? 0}` : "–";
}
