/**
 * Find any face: filter every face by identity, status, split, source, why it is queued, the
 * active model's confidence and who labelled it; "more like this" searches the similarity index
 * from any face; chosen faces go to review as a queue of their own. Faces are chosen one by one
 * (click, Space) or as a range (Shift+click, Shift+arrows); the arrows move between faces.
 */
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api, type Face } from "../api/client";
import { FaceCloser } from "../components/FaceCloser";
import { FaceImage } from "../components/FaceThumb";
import { pct, STATUS_LABELS } from "../components/format";
import { useRangeChoice } from "../components/useRangeChoice";
import { Pager } from "../events/EventsScreen";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { CHOICES, faceQuery, withFilter, type FaceFilterKey } from "./faceQuery";

const PAGE_SIZE = 60;
const LABELS: Record<FaceFilterKey, string> = {
  identity: "Identity",
  status: "Status",
  split: "Split",
  source: "Source",
  queue_kind: "Queued as",
  confidence_min: "Confidence from",
  confidence_max: "to",
  labelled_by: "Labelled by",
};

export function FacesScreen() {
  useDocumentTitle("Faces");
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const like = params.get("like") ? Number(params.get("like")) : null;
  const page = Number(params.get("page") ?? 1);
  const parsed = faceQuery(params);
  const queryKey = "query" in parsed ? JSON.stringify(parsed.query) : "";
  const identities = useLoad(() => api.identities.all(), []);
  const results = useLoad(async (): Promise<{ faces: { face: Face; score?: number }[]; count: number; hasNext: boolean } | null> => {
    if (like) {
      const answer = await api.faces.similar(like, 60);
      return { faces: answer.results.map((row) => ({ face: row.face, score: row.score })), count: answer.results.length, hasNext: false };
    }
    if (!("query" in parsed)) return null;
    const answer = await api.faces.list({ ...parsed.query, page, page_size: PAGE_SIZE, ordering: "-id" });
    return { faces: answer.results.map((face) => ({ face })), count: answer.count, hasNext: Boolean(answer.next) };
  }, [like, queryKey, page]);
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const [closer, setCloser] = useState<Face | null>(null);
  const shown = results.data?.faces ?? [];
  const order = shown.map((entry) => entry.face.id);
  const { chosen, choose, onKeyDown: onResultsKey, chooseAll, clear } = useRangeChoice(order);

  const update = (key: string, value: string) => {
    clear();
    setParams(withFilter(currentSearchParams(), key, value), { replace: key !== "like" });
  };
  async function sendToReview() {
    const ids = shown.map((entry) => entry.face.id).filter((id) => chosen.has(id));
    try {
      const queue = await api.review.sendFaces(ids);
      navigate(`/review?queue=${queue.id}`);
    } catch (error) {
      setNotice({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  return (
    <section aria-labelledby="faces-screen-title">
      <h1 id="faces-screen-title">Faces</h1>
      <form className="filters face-filters" onSubmit={(event) => event.preventDefault()} aria-label="Filters">
        <label className="inline">
          {LABELS.identity}{" "}
          <select value={params.get("identity") ?? ""} onChange={(event) => update("identity", event.target.value)}>
            <option value="">Any</option>
            {(identities.data ?? []).map((identity) => (
              <option key={identity.id} value={identity.id}>
                {identity.name.length > 60 ? `${identity.name.slice(0, 59)}…` : identity.name}
              </option>
            ))}
          </select>
        </label>
        {(["status", "split", "source", "queue_kind"] as const).map((key) => (
          <label className="inline" key={key}>
            {LABELS[key]}{" "}
            <select value={params.get(key) ?? ""} onChange={(event) => update(key, event.target.value)}>
              <option value="">Any</option>
              {(CHOICES[key] ?? []).map((choice) => (
                <option key={choice.value} value={choice.value}>
                  {choice.label}
                </option>
              ))}
            </select>
          </label>
        ))}
        {(["confidence_min", "confidence_max"] as const).map((key) => (
          <label className="inline" key={key}>
            {LABELS[key]}{" "}
            <input key={`${key}:${params.get(key) ?? ""}`} type="number" min={0} max={1} step={0.05} className="narrow" defaultValue={params.get(key) ?? ""} onBlur={(event) => update(key, event.target.value)} onKeyDown={(event) => event.key === "Enter" && update(key, event.currentTarget.value)} />
          </label>
        ))}
        <label className="inline">
          {LABELS.labelled_by}{" "}
          <input key={`labelled_by:${params.get("labelled_by") ?? ""}`} className="narrow" defaultValue={params.get("labelled_by") ?? ""} placeholder="username" onBlur={(event) => update("labelled_by", event.target.value)} onKeyDown={(event) => event.key === "Enter" && update("labelled_by", event.currentTarget.value)} />
        </label>
        <button type="button" className="secondary" onClick={() => setParams(new URLSearchParams(), { replace: true })}>
          Clear
        </button>
      </form>
      {"error" in parsed && !like && <p className="error">{parsed.error}</p>}
      {like && (
        <p className="status-line">
          Faces most like face {like}, by the similarity index.{" "}
          <button type="button" className="link" onClick={() => update("like", "")}>
            Back to the filters
          </button>
        </p>
      )}
      <div className="filters">
        <span className="muted" data-testid="faces-count">
          {results.data ? `${results.data.count} ${results.data.count === 1 ? "face" : "faces"}` : results.loading ? "Loading…" : ""}
        </span>
        <button type="button" className="secondary" disabled={!shown.length} onClick={chooseAll}>
          Select all shown
        </button>
        {chosen.size > 0 && (
          <button type="button" className="secondary" onClick={clear}>
            Clear the choice
          </button>
        )}
        <button type="button" disabled={!chosen.size} onClick={() => void sendToReview()}>
          Send {chosen.size} to review
        </button>
      </div>
      {notice && <p className={notice.error ? "error" : "ok"}>{notice.text}</p>}
      {results.error && <p className="error">{results.error}</p>}
      {results.data && !shown.length && <p className="muted">{like ? "The similarity index has no neighbours for this face yet (an admin rebuilds it under Admin › Jobs)." : "No face matches these filters."}</p>}
      <ul className="thumbs selectable face-results" data-testid="face-results" onKeyDown={onResultsKey}>
        {shown.map(({ face, score }) => (
          <li key={face.id} className={chosen.has(face.id) ? "thumb chosen" : "thumb"} data-face={face.id}>
            <label title={`face ${face.id}: ${face.identity_name ?? "unknown"}, ${STATUS_LABELS[face.status]}, ${face.split}, ${face.source}`}>
              <input
                type="checkbox"
                data-choose={face.id}
                checked={chosen.has(face.id)}
                onChange={() => undefined /* decided on click, where Shift is known */}
                onClick={(event) => choose(face.id, event.shiftKey)}
                aria-label={`choose face ${face.id}`}
              />
              <FaceImage face={face} size={96} />
              <span className="thumb-label long-name">{face.identity_name ?? "unknown"}</span>
              <span className="thumb-label">
                {STATUS_LABELS[face.status]}
                {score !== undefined ? ` · sim ${score.toFixed(2)}` : face.model_confidence != null ? ` · ${pct(face.model_confidence, 0)}` : ""}
              </span>
            </label>
            <span className="thumb-actions">
              <button type="button" className="link" onClick={() => setCloser(face)}>
                Look closer
              </button>{" "}
              <button type="button" className="link" onClick={() => update("like", String(face.id))}>
                More like this
              </button>{" "}
              <Link to={`/events?face=${face.id}&mine=0`}>History</Link>
            </span>
          </li>
        ))}
      </ul>
      {closer && <FaceCloser face={closer} onClose={() => setCloser(null)} />}
      {!like && <Pager page={page} hasNext={Boolean(results.data?.hasNext)} onPage={(value) => update("page", String(value))} />}
    </section>
  );
}
