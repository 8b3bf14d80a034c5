/** Start or cancel a retrain, accept a run, set the operating point, promote the next VIP chunk. */
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { api } from "../api/client";
import type { Gate } from "../api/results";
import { JobProgress } from "../components/JobProgress";
import { num, pct, when } from "../components/format";
import { FINISHED_STATES, headline } from "../dashboard/metrics";
import { useLoad } from "../hooks";

const LOSSES = [
  { value: "me", label: "Maximum entropy (default)" },
  { value: "ce", label: "Cross-entropy" },
  { value: "dce", label: "Cross-entropy with a distractor class" },
  { value: "zlog", label: "Zero logit" },
  { value: "arcface", label: "ArcFace" },
  { value: "tsoftmax", label: "Threshold softmax" },
];

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function TrainingPanel() {
  const status = useLoad(() => api.curation.status(), []);
  const runs = useLoad(async () => (await api.runs.list()).results, []);
  const [note, setNote] = useState<{ text: string; error?: boolean } | null>(null);
  const [startedJob, setStartedJob] = useState<number | null>(null);
  const activeRunId = status.data?.active_model?.run ?? null;

  function reloadAll() {
    status.reload();
    runs.reload();
  }

  async function act(work: () => Promise<unknown>, done: string) {
    setNote(null);
    try {
      await work();
      setNote({ text: done });
      reloadAll();
    } catch (error) {
      setNote({ text: message(error), error: true });
    }
  }

  const inFlight = (runs.data ?? []).filter((run) => !FINISHED_STATES.includes(run.state));

  return (
    <>
      {note && (
        <p role="status" className={note.error ? "error" : "status-line"} data-testid="admin-message">
          {note.text}
        </p>
      )}
      {runs.data === undefined && runs.error && <p className="error">{runs.error}</p>}
      <div className="admin-grid">
      <div>
      <RetrainForm
        disabled={inFlight.length > 0}
        onStarted={(jobId, text) => {
          setStartedJob(jobId);
          setNote({ text });
          reloadAll();
        }}
        onError={(text) => setNote({ text, error: true })}
      />
      <OperatingPointForm
        threshold={status.data?.active_model?.operating_point?.threshold ?? null}
        target={status.data?.active_model?.operating_point?.target_precision ?? null}
        activeRunId={activeRunId}
        onDone={(text, error) => {
          setNote({ text, error });
          if (!error) reloadAll();
        }}
      />

      <ChunkPromotion
        gate={status.data?.gate}
        chunk={status.data?.chunk ?? null}
        onDone={(text, error) => {
          setNote({ text, error });
          if (!error) reloadAll();
        }}
      />
      </div>
      <div>
      {startedJob && <JobProgress jobId={startedJob} title="Retrain" onFinished={reloadAll} />}
      {inFlight
        .filter((run) => run.job !== startedJob)
        .map((run) => (
          <JobProgress key={run.id} jobId={run.job} title={`Run ${run.id}`} onFinished={reloadAll} />
        ))}

      <section className="panel" aria-labelledby="runs-admin-title">
        <h2 id="runs-admin-title">Runs</h2>
        {!runs.data?.length && <p className="muted">{runs.loading ? "Loading…" : "No runs yet."}</p>}
        {runs.data && runs.data.length > 0 && (
          <table className="data" data-testid="admin-runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Mode / loss</th>
                <th scope="col">State</th>
                <th scope="col">Started</th>
                <th scope="col" className="num">Mean F1 (test)</th>
                <th scope="col" className="num">F1 AUC</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.data.map((run) => {
                const metrics = headline(run);
                const finished = FINISHED_STATES.includes(run.state);
                return (
                  <tr key={run.id} data-run={run.id}>
                    <td>
                      <Link to={`/dashboard?run=${run.id}`}>#{run.id}</Link> {run.id === activeRunId && <span className="badge ok">active</span>}
                    </td>
                    <td>
                      {run.mode}/{run.loss}
                    </td>
                    <td>
                      <span className={`badge state-${run.state}`}>{run.state}</span>
                      {run.error && <span className="error"> {run.error.split("\n")[0].slice(0, 120)}</span>}
                    </td>
                    <td>{when(run.created_at)}</td>
                    <td className="num">{pct(metrics.mean_f1)}</td>
                    <td className="num">{pct(metrics.f1_auc)}</td>
                    <td>
                      {run.state === "succeeded" && run.has_model && !run.is_active && (
                        <button type="button" onClick={() => void act(() => api.runs.accept(run.id), `Run ${run.id} is now the active model.`)}>
                          Accept
                        </button>
                      )}
                      {!finished && (
                        <button type="button" className="danger" onClick={() => void act(() => api.runs.cancel(run.id), `Cancelling run ${run.id}.`)}>
                          Cancel
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      </div>
      </div>
    </>
  );
}

function RetrainForm({ disabled, onStarted, onError }: { disabled: boolean; onStarted: (jobId: number | null, text: string) => void; onError: (text: string) => void }) {
  const [mode, setMode] = useState("head");
  const [loss, setLoss] = useState("me");
  const [epochs, setEpochs] = useState("");
  const [lr, setLr] = useState("");
  const [hidden, setHidden] = useState("0");
  const [runNote, setRunNote] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    const options: Record<string, number> = {};
    if (epochs) options.epochs = Number(epochs);
    if (lr) options.lr = Number(lr);
    if (Number(hidden)) options.hidden = Number(hidden);
    try {
      const run = await api.runs.start({ mode: mode as "head" | "finetune", loss, options, note: runNote });
      onStarted(run.job, `Run ${run.id} queued (${mode}/${loss}).`);
    } catch (error) {
      onError(message(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="retrain-title">
      <h2 id="retrain-title">Retrain</h2>
      <form onSubmit={(event) => void submit(event)}>
        <div className="form-grid">
          <label htmlFor="run-mode">Mode</label>
          <select id="run-mode" value={mode} onChange={(event) => setMode(event.target.value)}>
            <option value="head">Classifier head on stored embeddings (minutes)</option>
            <option value="finetune">Fine-tune the backbone on crops (GPU)</option>
          </select>
          <label htmlFor="run-loss">Loss</label>
          <select id="run-loss" value={loss} onChange={(event) => setLoss(event.target.value)}>
            {LOSSES.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
          <label htmlFor="run-epochs">Epochs</label>
          <input id="run-epochs" type="number" min={1} max={500} value={epochs} onChange={(event) => setEpochs(event.target.value)} placeholder={mode === "head" ? "30" : "10"} />
          <label htmlFor="run-lr">Learning rate</label>
          <input id="run-lr" type="number" step="any" min={0} value={lr} onChange={(event) => setLr(event.target.value)} placeholder={mode === "head" ? "0.1" : "0.01"} />
          <label htmlFor="run-hidden">Hidden layer width</label>
          <input id="run-hidden" type="number" min={0} value={hidden} onChange={(event) => setHidden(event.target.value)} />
          <label htmlFor="run-note">Note</label>
          <input id="run-note" value={runNote} maxLength={300} onChange={(event) => setRunNote(event.target.value)} placeholder="why this run" />
        </div>
        <button type="submit" disabled={busy || disabled}>
          {disabled ? "A run is in progress" : "Start retrain"}
        </button>
      </form>
    </section>
  );
}

function OperatingPointForm({ threshold, target, activeRunId, onDone }: { threshold: number | null; target: number | null; activeRunId: number | null; onDone: (text: string, error?: boolean) => void }) {
  const [by, setBy] = useState<"precision" | "threshold">("precision");
  const [value, setValue] = useState("");
  // The thresholds the active run reported on validation (max mean F1, each precision target).
  const presets = useLoad(async () => (activeRunId ? (await api.curation.operatingPoint()).presets : {}), [activeRunId, threshold]);

  async function choose(body: { target_precision: number } | { threshold: number }) {
    try {
      const answer = await api.curation.setOperatingPoint(body);
      onDone(`Operating point set: threshold ${num(answer.threshold, 3)}.`);
    } catch (error) {
      onDone(message(error), true);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const number = Number(value);
    await choose(by === "precision" ? { target_precision: number > 1 ? number / 100 : number } : { threshold: number });
  }

  return (
    <section className="panel" aria-labelledby="op-title">
      <h2 id="op-title">Operating point</h2>
      <p className="muted">
        {activeRunId ? (
          <>
            Active run {activeRunId}: threshold {num(threshold, 3)}
            {target != null ? `, chosen for precision ${pct(target, 1)}` : ""}. See the threshold sweep on the <Link to="/dashboard">dashboard</Link>.
          </>
        ) : (
          "Accept a run first: the operating point belongs to the active model."
        )}
      </p>
      {Object.entries(presets.data ?? {}).some(([, preset]) => typeof preset === "number") && (
        <p className="filters">
          {Object.entries(presets.data ?? {}).map(([name, preset]) =>
            typeof preset === "number" ? (
              <button key={name} type="button" className="secondary" onClick={() => void choose({ threshold: preset })}>
                {name.replace(/_/g, " ")}: {num(preset, 3)}
              </button>
            ) : null,
          )}
        </p>
      )}
      <form className="form-grid" onSubmit={(event) => void submit(event)}>
        <span>Choose by</span>
        <span>
          <label className="inline">
            <input type="radio" name="op-by" checked={by === "precision"} onChange={() => setBy("precision")} /> target precision
          </label>{" "}
          <label className="inline">
            <input type="radio" name="op-by" checked={by === "threshold"} onChange={() => setBy("threshold")} /> threshold
          </label>
        </span>
        <label htmlFor="op-value">{by === "precision" ? "Precision (0-1)" : "Threshold (0-1)"}</label>
        <input id="op-value" type="number" step="any" min={0} max={100} required value={value} onChange={(event) => setValue(event.target.value)} />
        <span />
        <button type="submit" disabled={!activeRunId}>
          Set operating point
        </button>
      </form>
    </section>
  );
}

function ChunkPromotion({ gate, chunk, onDone }: { gate: Gate | undefined; chunk: number | null; onDone: (text: string, error?: boolean) => void }) {
  const [reason, setReason] = useState("");
  const blocked = gate ? gate.required && !gate.passed : false;

  async function promote() {
    try {
      const answer = await api.curation.promoteChunk(blocked ? { override_reason: reason } : {});
      onDone(answer.message);
      setReason("");
    } catch (error) {
      onDone(message(error), true);
    }
  }

  return (
    <section className="panel" aria-labelledby="chunk-title">
      <h2 id="chunk-title">VIP chunks</h2>
      <p>
        Current chunk: <strong>{chunk ?? "none"}</strong>. Gate: <strong className={gate?.passed ? "ok" : "warn"}>{gate ? (gate.passed ? "passed" : "not met") : "–"}</strong>
        {gate?.reason ? <span className="muted"> · {gate.reason}</span> : null}
      </p>
      {blocked && (
        <div className="form-grid">
          <label htmlFor="override-reason">Override reason</label>
          <input id="override-reason" value={reason} onChange={(event) => setReason(event.target.value)} placeholder="why promote although the gate is not met" />
        </div>
      )}
      <button type="button" disabled={blocked && !reason.trim()} onClick={() => void promote()}>
        Promote the next chunk
      </button>
    </section>
  );
}
