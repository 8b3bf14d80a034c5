/**
 * Merge and split suggestions, most likely first: each shown side by side with its evidence.
 * Annotators read; admins merge, split (naming the new identity), dismiss, recompute, and undo
 * the operation they just made.
 */
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { api, type IdentityOperation, type IdentitySuggestion, type SuggestionKind, type SuggestionSide } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { JobProgress } from "../components/JobProgress";
import { num } from "../components/format";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { useSession } from "../session";
import { defaultSplitName, evidenceRows, mergePlan, splitPlan } from "./suggestions";

type Notice = { kind: "ok" | "error"; text: string; operation?: IdentityOperation };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function Side({ side, caption, link }: { side: SuggestionSide; caption: string; link: boolean }) {
  return (
    <div className="suggestion-side" data-testid="suggestion-side">
      <div className="muted small">{caption}</div>
      <div>
        {link ? <Link to={`/identities/${side.identity}`}>{side.name}</Link> : <strong>{side.name}</strong>}{" "}
        <span className="muted">
          {side.faces} faces · cohesion {num(side.cohesion, 2)}
        </span>
      </div>
      <ul className="thumbs">
        {side.examples.map((face) => (
          <li key={face.id} className="thumb">
            <FaceImage face={face} size={72} alt={`${side.name}: face ${face.id}`} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function SplitPrompt({ suggestion, onSplit, onCancel }: { suggestion: IdentitySuggestion; onSplit: (name: string) => void; onCancel: () => void }) {
  const [name, setName] = useState(defaultSplitName(suggestion));
  function submit(event: FormEvent) {
    event.preventDefault();
    onSplit(name);
  }
  return (
    <form className="filters" onSubmit={submit} aria-label={`Split ${suggestion.identity.name}`}>
      <label>
        Name of the new identity for the {suggestion.sides[1]?.faces ?? 0} faces on the right{" "}
        <input autoFocus value={name} onChange={(event) => setName(event.target.value)} onKeyDown={(event) => event.key === "Escape" && onCancel()} />
      </label>
      <button type="submit">Split</button>
      <button type="button" className="secondary" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

function SuggestionCard({ suggestion, isAdmin, busy, act }: { suggestion: IdentitySuggestion; isAdmin: boolean; busy: boolean; act: (run: () => Promise<Notice>) => void }) {
  const [naming, setNaming] = useState(false);
  const merge = mergePlan(suggestion);
  const [left, right] = suggestion.sides;
  const captions =
    suggestion.kind === "merge" ? ["Merge away (A)", "Keep (B)"] : ["Stays (larger cluster)", "Moves to a new identity (smaller cluster)"];

  function doMerge() {
    if (!merge) return;
    act(async () => {
      const operation = await api.identities.merge(merge.from.id, merge.body);
      return { kind: "ok", text: `Merged ${merge.from.name} into ${merge.into.name} (${operation.face_count} faces).`, operation };
    });
  }

  function doSplit(name: string) {
    const plan = splitPlan(suggestion, name);
    if (typeof plan === "string") {
      act(async () => ({ kind: "error", text: plan }));
      return;
    }
    setNaming(false);
    act(async () => {
      const operation = await api.identities.split(plan.identity.id, plan.body);
      return { kind: "ok", text: `Split ${operation.face_count} faces of ${plan.identity.name} into ${operation.target.name}.`, operation };
    });
  }

  function doDismiss() {
    act(async () => {
      await api.identities.dismissSuggestion(suggestion.id);
      return { kind: "ok", text: `Dismissed the ${suggestion.kind} suggestion about ${suggestion.identity.name}.` };
    });
  }

  return (
    <li id={`suggestion-${suggestion.id}`} className="panel suggestion" data-testid="suggestion" data-suggestion={suggestion.id} data-kind={suggestion.kind}>
      <h2 className="small">
        {suggestion.kind === "merge" ? (
          <>
            Same person? {left?.name ?? suggestion.identity.name} and {right?.name ?? suggestion.other?.name}
          </>
        ) : (
          <>
            Two people under <Link to={`/identities/${suggestion.identity.id}`}>{suggestion.identity.name}</Link>?
          </>
        )}{" "}
        <span className="badge">{suggestion.kind}</span>
        {suggestion.status !== "open" && <span className="badge">{suggestion.status}</span>}
      </h2>
      <div className="two-columns suggestion-sides">
        {suggestion.sides.slice(0, 2).map((side, index) => (
          <Side key={index} side={side} caption={captions[index]} link={suggestion.kind === "merge"} />
        ))}
      </div>
      <dl className="stats suggestion-evidence">
        {evidenceRows(suggestion).map((row) => (
          <div key={row.label} title={row.hint}>
            <dt>{row.label}</dt>
            <dd>{row.value}</dd>
          </div>
        ))}
      </dl>
      {isAdmin && suggestion.status === "open" && (
        <div className="filters">
          {suggestion.kind === "merge" && merge && (
            <button type="button" disabled={busy} onClick={doMerge}>
              Merge {merge.from.name} into {merge.into.name}
            </button>
          )}
          {suggestion.kind === "split" && !naming && (
            <button type="button" disabled={busy} onClick={() => setNaming(true)}>
              Split…
            </button>
          )}
          <button type="button" className="secondary" disabled={busy} onClick={doDismiss}>
            Dismiss
          </button>
        </div>
      )}
      {naming && <SplitPrompt suggestion={suggestion} onSplit={doSplit} onCancel={() => setNaming(false)} />}
    </li>
  );
}

export function SuggestionsScreen() {
  useDocumentTitle("Merge and split suggestions");
  const { isAdmin } = useSession();
  const [params, setParams] = useSearchParams();
  const kind = (params.get("kind") === "merge" || params.get("kind") === "split" ? params.get("kind") : "") as SuggestionKind | "";
  const status = params.get("status") ?? "open";
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  const [job, setJob] = useState<number | null>(null);
  const suggestions = useLoad(() => api.identities.listSuggestions({ kind: kind || undefined, status }), [kind, status]);

  function update(key: string, value: string) {
    const next = currentSearchParams();
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next);
  }

  function act(run: () => Promise<Notice>) {
    setBusy(true);
    run()
      .then((answer) => {
        setNotice(answer);
        if (answer.kind === "ok") suggestions.reload();
      })
      .catch((error: unknown) => setNotice({ kind: "error", text: messageOf(error) }))
      .finally(() => setBusy(false));
  }

  function undo(operation: IdentityOperation) {
    act(async () => {
      await api.identities.undoOperation(operation.id);
      return { kind: "ok", text: `Undid the ${operation.kind} of ${operation.source.name} (${operation.face_count} faces moved back).` };
    });
  }

  function compute() {
    setBusy(true);
    api.identities
      .computeSuggestions()
      .then((answer) => setJob(answer.id))
      .catch((error: unknown) => setNotice({ kind: "error", text: messageOf(error) }))
      .finally(() => setBusy(false));
  }

  const rows = suggestions.data?.results ?? [];
  return (
    <section aria-labelledby="suggestions-title">
      <h1 id="suggestions-title">Merge and split suggestions</h1>
      <div className="filters">
        <label>
          Kind{" "}
          <select value={kind} onChange={(event) => update("kind", event.target.value)}>
            <option value="">merges and splits</option>
            <option value="merge">merges</option>
            <option value="split">splits</option>
          </select>
        </label>
        <label>
          Status{" "}
          <select value={status} onChange={(event) => update("status", event.target.value === "open" ? "" : event.target.value)}>
            <option value="open">open</option>
            <option value="accepted">accepted</option>
            <option value="dismissed">dismissed</option>
          </select>
        </label>
        <span className="muted">{suggestions.data ? `${suggestions.data.count} suggestions, most likely first` : ""}</span>
        <span className="spacer" />
        {isAdmin && (
          <button type="button" className="secondary" disabled={busy || job !== null} onClick={compute}>
            Compute suggestions
          </button>
        )}
      </div>
      {job !== null && (
        <JobProgress
          jobId={job}
          title="Computing suggestions"
          onFinished={(finished) => {
            setJob(null);
            if (finished.state === "succeeded") setNotice({ kind: "ok", text: "Suggestions recomputed." });
            suggestions.reload();
          }}
        />
      )}
      {notice && (
        <p role={notice.kind === "error" ? "alert" : "status"} className={notice.kind === "error" ? "error" : "status-line"} data-testid="suggestion-notice">
          {notice.text}{" "}
          {notice.operation && !notice.operation.undone_at && (
            <button type="button" className="link" disabled={busy} onClick={() => undo(notice.operation as IdentityOperation)}>
              Undo
            </button>
          )}
        </p>
      )}
      {!isAdmin && <p className="muted">Admins merge, split and dismiss; you can read the evidence.</p>}
      {suggestions.error && <p className="error">{suggestions.error}</p>}
      {suggestions.data && rows.length === 0 && (
        <p className="empty">No {status} suggestions{isAdmin && status === "open" ? ": compute them from the current embeddings." : "."}</p>
      )}
      <ol className="suggestion-list">
        {rows.map((suggestion) => (
          <SuggestionCard key={suggestion.id} suggestion={suggestion} isAdmin={isAdmin} busy={busy} act={act} />
        ))}
      </ol>
      {suggestions.data?.next && <p className="muted">Showing the {rows.length} likeliest.</p>}
    </section>
  );
}
