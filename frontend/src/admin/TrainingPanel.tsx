/** Start or cancel a retrain, accept a run, set the operating point, promote the next VIP chunk. */
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { api, type OperatingPointState, type Schemas } from "../api/client";
import type { Gate } from "../api/results";
import { JobProgress } from "../components/JobProgress";
import { num, pct, when } from "../components/format";
import { RunState } from "../components/RunState";
import { FINISHED_STATES, METRIC_HELP, headline } from "../dashboard/metrics";
import { useLoad } from "../hooks";
import { acceptQuestion, farLabel, promoteQuestion, rollbackQuestion, ruleSentence, unitValue } from "./operatingPoint";

// what scored a run's faces (ml.train: RunResult["scorer"])
const SCORER_TEXT: Record<string, string> = {
  fused: "scored by the VIP gallery and the head together",
  gallery: "scored by the VIP gallery alone",
  head: "scored by the head alone",
};

const LOSSES = [
  { value: "arcface", label: "ArcFace (default)" },
  { value: "tsoftmax", label: "Threshold softmax" },
  { value: "me", label: "Maximum entropy" },
  { value: "ce", label: "Cross-entropy" },
  { value: "dce", label: "Cross-entropy with a distractor class" },
  { value: "zlog", label: "Zero logit" },
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
        {activeRunId != null && status.data?.previous_model && (
          <p>
            <button type="button" className="secondary" onClick={() => {
              const back = status.data!.previous_model!.run;
              if (!window.confirm(rollbackQuestion(activeRunId, back))) return;
              void act(() => api.curation.rollback(), `Rolled back: run ${back} is the active model again.`);
            }}>
              Roll back to run {status.data.previous_model.run}
            </button>
          </p>
        )}
        {!runs.data?.length && <p className="muted">{runs.loading ? "Loading…" : "No runs yet."}</p>}
        {runs.data && runs.data.length > 0 && (
          <table className="data" data-testid="admin-runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Mode / loss</th>
                <th scope="col" title="What the run trained on: settled labels only (faces waiting for a second opinion or an admin's word left out), or all labels.">Labels</th>
                <th scope="col">State</th>
                <th scope="col">Started</th>
                <th scope="col" className="num" title={METRIC_HELP.precision}>Precision</th>
                <th scope="col" className="num" title={METRIC_HELP.recall}>Recall</th>
                <th scope="col" className="num" title={METRIC_HELP.mean_f1}>Mean F1</th>
                <th scope="col" className="num" title={METRIC_HELP.f1_auc}>F1 AUC</th>
                <th scope="col" title="Every number of a row is read on validation at this threshold.">Read at</th>
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
                      {run.metrics?.scorer && (
                        <div className="muted" data-testid="run-scorer">
                          {SCORER_TEXT[run.metrics.scorer.name] ?? run.metrics.scorer.name}
                          {run.metrics.scorer.reason && `: ${run.metrics.scorer.reason}`}
                        </div>
                      )}
                    </td>
                    <td data-testid="run-labels">{labelsText(run)}</td>
                    <td>
                      <RunState state={run.state} progress={run.progress} message={run.message} />
                      {run.error && <span className="error"> {run.error.split("\n")[0].slice(0, 120)}</span>}
                    </td>
                    <td>{when(run.created_at)}</td>
                    <td className="num">{pct(metrics.precision)}</td>
                    <td className="num">{pct(metrics.recall)}</td>
                    <td className="num">{pct(metrics.mean_f1)}</td>
                    <td className="num">{pct(metrics.f1_auc)}</td>
                    <td className="muted">{metrics.label ?? "–"}</td>
                    <td>
                      {run.state === "succeeded" && run.has_model && !run.is_active && (
                        <button type="button" onClick={() => {
                          if (!window.confirm(acceptQuestion(run.id, activeRunId))) return;
                          void act(() => api.runs.accept(run.id), `Run ${run.id} is now the active model.`);
                        }}>
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

/** What a run trained on, with the unsettled faces it left out. */
function labelsText(run: { labels?: string; counts?: unknown }): string {
  const leftOut = (run.counts as { unsettled_left_out?: number } | null)?.unsettled_left_out ?? 0;
  if (run.labels === "all") return "all";
  return leftOut ? `settled only (${leftOut} left out)` : "settled only";
}

function RetrainForm({ disabled, onStarted, onError }: { disabled: boolean; onStarted: (jobId: number | null, text: string) => void; onError: (text: string) => void }) {
  const [mode, setMode] = useState("head");
  const [loss, setLoss] = useState("arcface");
  const [epochs, setEpochs] = useState("");
  const [lr, setLr] = useState("");
  const [hidden, setHidden] = useState("0");
  const [runNote, setRunNote] = useState("");
  const [labels, setLabels] = useState<"settled" | "all">("settled");
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    const options: Record<string, number> = {};
    if (epochs) options.epochs = Number(epochs);
    if (lr) options.lr = Number(lr);
    if (Number(hidden)) options.hidden = Number(hidden);
    try {
      const run = await api.runs.start({ mode: mode as "head" | "finetune", loss, options, note: runNote, labels });
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
          <label htmlFor="run-labels">Train on</label>
          <select id="run-labels" value={labels} onChange={(event) => setLabels(event.target.value as "settled" | "all")}>
            <option value="settled">Settled labels only (leave out faces waiting for a second opinion or an admin)</option>
            <option value="all">All labels as they are</option>
          </select>
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

type FarOption = OperatingPointState["far_options"][number];

/** The stored FAR estimate of an operating point (an empty object for one chosen otherwise). */
function estimateOf(estimate: unknown): FarOption | null {
  return estimate && typeof estimate === "object" && "threshold" in estimate ? (estimate as FarOption) : null;
}

/** One false-tag rate: the threshold, what it implies and how many val faces stand behind it. */
function FarEstimate({ option }: { option: FarOption }) {
  const far = option.far_target;
  const faces = option.n_distractor_faces;
  const people = option.n_distractor_people;
  const [farLow, farHigh] = option.far_interval;
  const [recallLow, recallHigh] = option.recall_interval;
  return (
    <>
      threshold {num(option.threshold, 3)} · implied precision <strong>{pct(option.precision, 1)}</strong> (at least {pct(option.precision_low, 1)})
      {" "}if {pct(option.unknown_share, 0)} of faces are unknown · VIP faces recognised {pct(option.recall, 1)} ({pct(recallLow, 0)}–{pct(recallHigh, 0)}
      {" "}of {option.n_vip_faces} val faces) · val false tags {pct(option.far_observed, 2)} ({pct(farLow, 2)}–{pct(farHigh, 2)}) of {faces} unknown faces
      {people != null ? ` from ${people} people` : ""}{option.method === "tail" ? ", extrapolated from the tail" : ""}
      {" "}(target {farLabel(far)}{option.far_rule === "lowest_measurable" ? `; placed at ${farLabel(option.far_used)}, the lowest val measures` : ""})
    </>
  );
}

function OperatingPointForm({ threshold, target, activeRunId, onDone }: { threshold: number | null; target: number | null; activeRunId: number | null; onDone: (text: string, error?: boolean) => void }) {
  const [by, setBy] = useState<"far" | "precision" | "threshold">("far");
  const [value, setValue] = useState("0.001");
  const [share, setShare] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [chosen, setChosen] = useState(0); // each choice reloads the point, even when the threshold stays
  const parsedShare = share === null ? null : unitValue(share, "share of unknown faces");
  const shareValue = parsedShare?.value;
  // The active point, the presets, and per false-tag rate the threshold and implied precision at this share.
  const state = useLoad(
    async () => (activeRunId ? await api.curation.operatingPoint(shareValue) : null),
    [activeRunId, threshold, shareValue, chosen],
  );
  const current = state.data?.current ?? null;
  const expected = state.data?.unknown_share_expected as { value: number; source: string; faces: number } | undefined;
  const shownShare = share ?? (state.data ? String(Number(state.data.unknown_share.toFixed(3))) : "");

  async function choose(body: Schemas["OperatingPointRequestRequest"]) {
    try {
      const answer = await api.curation.setOperatingPoint(body);
      setChosen((n) => n + 1);
      onDone(`Operating point set: threshold ${num(answer.threshold, 3)}, ${ruleSentence(answer)}${answer.reason ? ` (${answer.reason})` : ""}.`);
    } catch (error) {
      onDone(message(error), true);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const label = by === "far" ? "false-tag rate" : by === "precision" ? "target precision" : "threshold";
    const parsed = unitValue(value, label, { open: by === "far" });
    if (parsed.error !== undefined) return setProblem(parsed.error);
    if (by === "far" && parsedShare?.error) return setProblem(parsedShare.error);
    setProblem(null);
    if (by === "far") await choose({ far: parsed.value, ...(shareValue !== undefined ? { unknown_share: shareValue } : {}) });
    else await choose(by === "precision" ? { target_precision: parsed.value } : { threshold: parsed.value });
  }

  return (
    <section className="panel" aria-labelledby="op-title">
      <h2 id="op-title">Operating point</h2>
      <p className="muted" data-testid="op-current">
        {activeRunId ? (
          <>
            Active run {activeRunId}: threshold {num(threshold, 3)}
            {current ? `, ${ruleSentence(current)}` : target != null ? `, chosen for precision ${pct(target, 1)}` : ""}.
            {" "}See the threshold sweep on the <Link to="/dashboard">dashboard</Link>.
          </>
        ) : (
          "Accept a run first (Runs below › Accept): the operating point belongs to the active model."
        )}
      </p>
      {current?.reason ? (
        <p className="warn" data-testid="op-rule-reason">
          Why: {current.reason}.
        </p>
      ) : null}
      {current?.far != null && estimateOf(current.estimate) && (
        <p data-testid="op-estimate">
          <FarEstimate option={estimateOf(current.estimate)!} />
        </p>
      )}
      <form className="form-grid" onSubmit={(event) => void submit(event)} noValidate>
        <span>Choose by</span>
        <span>
          <label className="inline">
            <input type="radio" name="op-by" checked={by === "far"} onChange={() => { setBy("far"); setValue("0.001"); }} /> false-tag rate on unknown faces
          </label>{" "}
          <label className="inline">
            <input type="radio" name="op-by" checked={by === "precision"} onChange={() => { setBy("precision"); setValue(""); }} /> target precision
          </label>{" "}
          <label className="inline">
            <input type="radio" name="op-by" checked={by === "threshold"} onChange={() => { setBy("threshold"); setValue(""); }} /> threshold
          </label>
        </span>
        <label htmlFor="op-value">{by === "far" ? "False-tag rate (0-1)" : by === "precision" ? "Precision (0-1)" : "Threshold (0-1)"}</label>
        <input id="op-value" type="text" inputMode="decimal" required value={value} aria-invalid={problem !== null} onChange={(event) => setValue(event.target.value)}
          title={by === "far" ? "The share of faces of people who are not VIPs that you accept to see tagged as a VIP, e.g. 0.001 = 1 in 1,000." : undefined} />
        {by === "far" && (
          <>
            <label htmlFor="op-unknown-share">Unknown faces expected (0-1)</label>
            <input id="op-unknown-share" type="text" inputMode="decimal" value={shownShare} aria-invalid={parsedShare?.error !== undefined}
              title="The share of faces in your videos that are nobody in the VIP set; precision depends on it."
              onChange={(event) => setShare(event.target.value)} />
            <span />
            <span className="muted">
              {expected?.source === "tagged_videos"
                ? `Tagged videos so far: ${pct(expected.value, 0)} of ${expected.faces} faces were tagged as no VIP.`
                : "No video tagged yet: 0.9 is assumed."}
            </span>
          </>
        )}
        <span />
        <button type="submit" disabled={!activeRunId}>
          Set operating point
        </button>
      </form>
      {(problem ?? parsedShare?.error) && <p className="error" role="alert" data-testid="op-problem">{problem ?? parsedShare?.error}</p>}
      {by === "far" && (state.data?.far_options ?? []).length > 0 && (
        <table className="compact" data-testid="far-options">
          <caption className="muted">Per false-tag rate, on val faces of people never used in training</caption>
          <thead>
            <tr>
              <th>False-tag rate</th>
              <th>Threshold</th>
              <th title="Share of what gets tagged that is the right VIP, at the share of unknown faces above; the second number is the pessimistic end of the intervals.">Implied precision</th>
              <th title="Share of val VIP faces given the right name and accepted (95% interval).">VIP faces recognised</th>
              <th title="How many val faces of unseen people the rate was measured on.">Measured on</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(state.data?.far_options ?? []).map((option) => (
              <tr key={option.far_target}>
                <td>{farLabel(option.far_target)}</td>
                <td>{num(option.threshold, 3)}</td>
                <td>{pct(option.precision, 1)} (≥ {pct(option.precision_low, 1)})</td>
                <td>{pct(option.recall, 1)} of {option.n_vip_faces}</td>
                <td>{option.n_distractor_faces} faces, {option.n_distractor_people ?? "?"} people{option.method === "tail" ? " (tail fit)" : ""}</td>
                <td>
                  <button type="button" className="secondary" disabled={!activeRunId}
                    onClick={() => void choose({ far: option.far_target, ...(shareValue !== undefined ? { unknown_share: shareValue } : {}) })}>
                    Use
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {by !== "far" && Object.entries(state.data?.presets ?? {}).some(([, preset]) => typeof preset === "number") && (
        <p className="filters">
          {Object.entries(state.data?.presets ?? {}).map(([name, preset]) =>
            typeof preset === "number" ? (
              <button key={name} type="button" className="secondary" onClick={() => void choose({ threshold: preset })}>
                {name.replace(/_/g, " ")}: {num(preset, 3)}
              </button>
            ) : null,
          )}
        </p>
      )}
    </section>
  );
}

function ChunkPromotion({ gate, chunk, onDone }: { gate: Gate | undefined; chunk: number | null; onDone: (text: string, error?: boolean) => void }) {
  const [reason, setReason] = useState("");
  const blocked = gate ? gate.required && !gate.passed : false;

  async function promote() {
    if (!window.confirm(promoteQuestion(blocked))) return;
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
