/**
 * One identity: its faces (filter by status, split, source), its precision/recall across runs,
 * the identities nearest to it, and "find more faces like these" from the similarity index.
 */
import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { api, type Face, type Identity } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { useRangeChoice } from "../components/useRangeChoice";
import { STATUS_LABELS, num, pct, when } from "../components/format";
import { RunHistoryChart } from "../dashboard/charts";
import { identityHistory } from "../dashboard/metrics";
import { Pager } from "../events/EventsScreen";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { mapLimit, unverifiedCount } from "../review/sources";
import { useSession } from "../session";
import { UploadPhotos } from "./UploadPhotos";

const FILTERS = {
  status: ["unverified", "verified", "not_a_face", "excluded"],
  split: ["train", "val", "test"],
  source: ["photo", "frame", "crop"],
} as const;

export function IdentityPage() {
  const id = Number(useParams().id);
  const identity = useLoad(() => api.identities.get(id), [id]);
  useDocumentTitle(identity.data?.name ?? "Identity");
  if (identity.error) return <p className="error">{identity.error}</p>;
  if (!identity.data) return <p className="muted">Loading…</p>;
  return <IdentityDetail identity={identity.data} reload={identity.reload} />;
}

/** The identity's verified faces, best quality first: who the person is, before reviewing their faces. */
function References({ identity }: { identity: Identity }) {
  const faces = useLoad(() => api.faces.list({ identity: identity.id, status: "verified", ordering: "-quality", page_size: 12 }), [identity.id, identity.verified_count]);
  const rows = faces.data?.results ?? [];
  return (
    <section className="panel" aria-labelledby="references-title">
      <h2 id="references-title">Reference faces</h2>
      {faces.data && !rows.length && <p className="muted">No verified face yet: confirm a few in review, or add photos below.</p>}
      <ul className="thumbs" data-testid="identity-references">
        {rows.map((face) => (
          <li key={face.id} className="thumb">
            <FaceImage face={face} size={72} alt={`reference face ${face.id} of ${identity.name}`} />
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * Rename and approve (admins) and every recorded edit of the identity: who changed what, when.
 * Annotators add missing people as candidates; an admin approves one by making it a VIP.
 */
function NameAndEdits({ identity, onRenamed }: { identity: Identity; onRenamed: () => void }) {
  const { isAdmin } = useSession();
  const [name, setName] = useState(identity.name);
  const [error, setError] = useState<string | null>(null);
  const history = useLoad(() => api.identities.history(identity.id), [identity.id, identity.name, identity.role]);
  async function rename(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      await api.identities.update(identity.id, { name: name.trim() });
      onRenamed();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }
  async function makeVip() {
    const question = `Make ${identity.name} a VIP? The next training run learns to recognise this person (their verified faces become a class of the model); until then nothing else changes.`;
    if (!window.confirm(question)) return;
    setError(null);
    try {
      await api.identities.update(identity.id, { role: "vip" });
      onRenamed();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }
  const edits = history.data?.results ?? [];
  return (
    <section className="panel" aria-labelledby="edits-title">
      <h2 id="edits-title">Name and edits</h2>
      {isAdmin && (
        <form className="filters" onSubmit={(event) => void rename(event)}>
          <label className="inline">
            Name <input value={name} maxLength={200} required onChange={(event) => setName(event.target.value)} />
          </label>
          <button type="submit" disabled={!name.trim() || name.trim() === identity.name}>
            Rename
          </button>
          {identity.role === "candidate" && (
            <button type="button" className="secondary" onClick={() => void makeVip()}>
              Make a VIP
            </button>
          )}
          {error && <span className="error">{error}</span>}
        </form>
      )}
      {history.data && !edits.length && <p className="muted">Not edited since it was created.</p>}
      <ul className="edits" data-testid="identity-edits">
        {edits.map((edit) => (
          <li key={edit.id}>
            <span className="muted">{when(edit.created_at)}</span> {edit.user ?? "someone"}:{" "}
            {Object.entries(edit.changes).map(([field, change]) => (
              <span key={field} className="long-name" title={`${field}: ${String(change.from ?? "–")} → ${String(change.to ?? "–")}`}>
                {field} “{String(change.from ?? "–")}” → “{String(change.to ?? "–")}”{" "}
              </span>
            ))}
          </li>
        ))}
      </ul>
    </section>
  );
}

function IdentityDetail({ identity, reload }: { identity: Identity; reload: () => void }) {
  const aliases = Array.isArray(identity.aliases) ? (identity.aliases as string[]) : [];
  return (
    <section aria-labelledby="identity-title" className="identity-page">
      <header className="identity-head">
        <h1 id="identity-title" className="long-name" title={identity.name}>
          {identity.name}
        </h1>
        <span className={`badge role-${identity.role}`}>{identity.role}</span>
        {identity.chunk != null && <span className="badge">chunk {identity.chunk}</span>}
        {identity.popularity_rank != null && <span className="muted">popularity #{identity.popularity_rank}</span>}
        {aliases.length > 0 && <span className="muted">also: {aliases.join(", ")}</span>}
        <span className="spacer" />
        {unverifiedCount(identity) > 0 && (
          <Link className="button" to={`/review?identity=${identity.id}`}>
            Review {unverifiedCount(identity)} unverified
          </Link>
        )}
      </header>
      <dl className="stats">
        <div>
          <dt>Faces</dt>
          <dd>{identity.face_count}</dd>
        </div>
        <div>
          <dt>Verified</dt>
          <dd>{identity.verified_count}</dd>
        </div>
        <div>
          <dt>Train / val / test</dt>
          <dd>
            {identity.train_count} / {identity.val_count} / {identity.test_count}
          </dd>
        </div>
      </dl>
      <References identity={identity} />
      <NameAndEdits identity={identity} onRenamed={reload} />
      <div className="two-columns">
        <History identity={identity} />
        <Nearest identity={identity} />
      </div>
      <FacesOf identity={identity} />
      <UploadPhotos identity={identity} onDone={reload} />
      <MoreLikeThese identity={identity} />
    </section>
  );
}

function History({ identity }: { identity: Identity }) {
  const runs = useLoad(async () => {
    const finished = (await api.runs.list({ job__state: "succeeded", page_size: 30 })).results;
    return finished.length ? api.runs.compare(finished.map((run) => run.id)) : null;
  }, []);
  const points = identityHistory(runs.data, identity.id);
  return (
    <section className="panel" aria-labelledby="history-title">
      <h2 id="history-title">Precision and recall across runs</h2>
      {runs.error && <p className="error">{runs.error}</p>}
      {points.length ? (
        <RunHistoryChart
          points={points}
          height={220}
          series={[
            { key: "precision", label: "Precision", color: "#f472b6" },
            { key: "recall", label: "Recall", color: "#60a5fa" },
          ]}
        />
      ) : (
        <p className="muted">{runs.loading ? "Loading…" : identity.role === "vip" ? "No training run has evaluated this identity yet." : "Candidates are distractors: they get precision and recall once promoted to VIP."}</p>
      )}
    </section>
  );
}

/**
 * Identities nearest this one, two ways: the pairs the active model confuses (from its run's
 * confusion matrix), and the identities of the faces nearest this one's verified faces in the
 * similarity index.
 */
function Nearest({ identity }: { identity: Identity }) {
  const confused = useLoad(async () => {
    const active = (await api.curation.status()).active_model?.run;
    if (!active) return [];
    const run = await api.runs.get(active);
    return (run.confused_pairs ?? [])
      .filter((pair) => pair.identity_a === identity.id || pair.identity_b === identity.id)
      .map((pair) => {
        const isA = pair.identity_a === identity.id;
        return { id: isA ? pair.identity_b : pair.identity_a, name: isA ? pair.name_b : pair.name_a, count: (pair.a_as_b ?? 0) + (pair.b_as_a ?? 0), run: active };
      });
  }, [identity.id]);
  const nearest = useLoad(async () => {
    const references = (await api.faces.list({ identity: identity.id, status: "verified", page_size: 6, ordering: "-quality" })).results;
    const answers = await mapLimit(references, 3, (face) => api.faces.similar(face.id, 30).catch(() => null));
    const best = new Map<number, { name: string; score: number; hits: number }>();
    for (const answer of answers) {
      for (const row of answer?.results ?? []) {
        const other = row.face.identity;
        if (other === null || other === identity.id) continue;
        const entry = best.get(other) ?? { name: row.face.identity_name ?? `#${other}`, score: 0, hits: 0 };
        entry.score = Math.max(entry.score, row.score);
        entry.hits += 1;
        best.set(other, entry);
      }
    }
    return [...best.entries()].sort((a, b) => b[1].score - a[1].score).slice(0, 8);
  }, [identity.id]);
  const suggestions = useLoad(async () => (await api.identities.suggestions(identity.id))?.results ?? [], [identity.id]);
  return (
    <section className="panel" aria-labelledby="nearest-title">
      <h2 id="nearest-title">Nearest other identities</h2>
      {suggestions.data && suggestions.data.length > 0 && (
        <>
          <h3 className="small muted">
            Suggested merges and splits · <Link to="/suggestions">all suggestions</Link>
          </h3>
          <ul className="nearest" data-testid="identity-suggestions">
            {suggestions.data.map((suggestion) => {
              const other = suggestion.identity.id === identity.id ? suggestion.other : suggestion.identity;
              return (
                <li key={suggestion.id}>
                  {suggestion.kind === "merge" && other ? (
                    <>
                      Same person as <Link to={`/identities/${other.id}`}>{other.name}</Link>?
                    </>
                  ) : (
                    <>Two people under this name? ({suggestion.sides.map((side) => `${side.faces} faces`).join(" / ")})</>
                  )}{" "}
                  <span className="muted">score {num(suggestion.score, 2)}</span>{" "}
                  <Link to={`/suggestions?kind=${suggestion.kind}`}>evidence</Link>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {confused.data && confused.data.length > 0 && (
        <>
          <h3 className="small muted">Confused by the active model (run {confused.data[0].run})</h3>
          <ol className="nearest">
            {confused.data.map((entry) => (
              <li key={entry.id}>
                <Link to={`/identities/${entry.id}`}>{entry.name}</Link> <span className="muted">{entry.count} confusions</span>
              </li>
            ))}
          </ol>
        </>
      )}
      <h3 className="small muted">Nearest faces in the similarity index</h3>
      {nearest.loading && <p className="muted">Searching…</p>}
      {nearest.data && !nearest.data.length && <p className="muted">No other identity among the nearest faces (or no similarity index yet).</p>}
      <ol className="nearest">
        {(nearest.data ?? []).map(([other, entry]) => (
          <li key={other}>
            <Link to={`/identities/${other}`}>{entry.name}</Link> <span className="muted">similarity {pct(entry.score, 0)} · {entry.hits} close faces</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function FacesOf({ identity }: { identity: Identity }) {
  const [params, setParams] = useSearchParams();
  const filters = { status: params.get("status") ?? "", split: params.get("split") ?? "", source: params.get("source") ?? "" };
  const page = Number(params.get("page") ?? 1);
  const faces = useLoad(() => api.faces.list({ identity: identity.id, ...filters, page, page_size: 60 }), [identity.id, filters.status, filters.split, filters.source, page]);

  function update(key: string, value: string) {
    const next = currentSearchParams();
    if (value) next.set(key, value);
    else next.delete(key);
    if (key !== "page") next.delete("page");
    setParams(next, { replace: true });
  }

  return (
    <section className="panel" aria-labelledby="faces-title">
      <h2 id="faces-title">Faces {faces.data && <span className="muted">({faces.data.count})</span>}</h2>
      <div className="filters">
        {(Object.keys(FILTERS) as (keyof typeof FILTERS)[]).map((key) => (
          <label className="inline" key={key}>
            {key[0].toUpperCase() + key.slice(1)}{" "}
            <select value={filters[key]} onChange={(event) => update(key, event.target.value)}>
              <option value="">All</option>
              {FILTERS[key].map((value) => (
                <option key={value} value={value}>
                  {STATUS_LABELS[value] ?? value}
                </option>
              ))}
            </select>
          </label>
        ))}
      </div>
      {faces.error && <p className="error">{faces.error}</p>}
      <ul className="thumbs" data-testid="identity-faces">
        {(faces.data?.results ?? []).map((face) => (
          <li key={face.id} className={`thumb status-${face.status}`} title={`face ${face.id}: ${STATUS_LABELS[face.status]}, ${face.split}, ${face.source}`}>
            <Link to={`/events?face=${face.id}&mine=0`} aria-label={`face ${face.id} history`}>
              <FaceImage face={face} size={72} />
            </Link>
            <span className="thumb-label">{STATUS_LABELS[face.status]}</span>
          </li>
        ))}
      </ul>
      <Pager page={page} hasNext={Boolean(faces.data?.next)} onPage={(value) => update("page", String(value))} />
    </section>
  );
}

/** Faces near this identity's verified ones that are not labelled as it: candidates to add. */
function MoreLikeThese({ identity }: { identity: Identity }) {
  const [found, setFound] = useState<{ face: Face; score: number }[] | null>(null);
  const { chosen, choose, onKeyDown, chooseAll, clear } = useRangeChoice(found?.map((entry) => entry.face.id) ?? []);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  async function search() {
    setBusy(true);
    setMessage(null);
    try {
      const references = (await api.faces.list({ identity: identity.id, status: "verified", page_size: 10, ordering: "-quality" })).results;
      if (!references.length) {
        setMessage("This identity has no verified faces to search from yet.");
        setFound([]);
        return;
      }
      const answers = await mapLimit(references, 3, (face) => api.faces.similar(face.id, 40));
      const best = new Map<number, { face: Face; score: number }>();
      for (const answer of answers) {
        for (const row of answer.results) {
          if (row.face.identity === identity.id || row.face.status === "not_a_face" || row.face.status === "excluded") continue;
          if (row.face.status === "verified" && row.face.identity !== null) continue; // someone verified it as another person
          const current = best.get(row.face.id);
          if (!current || row.score > current.score) best.set(row.face.id, { face: row.face, score: row.score });
        }
      }
      const ranked = [...best.values()].sort((a, b) => b.score - a.score).slice(0, 48);
      setFound(ranked);
      clear();
      if (!ranked.length) setMessage("No unlabelled faces near this identity's verified faces.");
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  }

  async function addChosen() {
    if (!found) return;
    setBusy(true);
    const faces = found.filter((entry) => chosen.has(entry.face.id)).map((entry) => entry.face);
    const results = await mapLimit(faces, 4, (face) =>
      api.faces
        .label(face.id, { identity: identity.id, status: "verified", expected_version: face.version, reason: `found like ${identity.name}` })
        .then(() => null)
        .catch((error: Error) => `face ${face.id}: ${error.message}`),
    );
    const failed = results.filter(Boolean);
    setFound(found.filter((entry) => !chosen.has(entry.face.id) || failed.some((text) => text?.startsWith(`face ${entry.face.id}:`))));
    clear();
    setMessage(failed.length ? `${faces.length - failed.length} added; ${failed.join("; ")}` : `${faces.length} faces added to ${identity.name}.`);
    setBusy(false);
  }

  return (
    <section className="panel" aria-labelledby="more-title">
      <h2 id="more-title">Find more faces like these</h2>
      <p className="muted">Searches the similarity index around the verified faces for faces that are unknown or labelled otherwise.</p>
      <div className="filters">
        <button type="button" onClick={() => void search()} disabled={busy}>
          {found ? "Search again" : "Find more faces"}
        </button>
        {found && found.length > 0 && (
          <>
            <button type="button" className="secondary" onClick={chooseAll}>
              Select all
            </button>
            <button type="button" disabled={!chosen.size || busy} onClick={() => void addChosen()}>
              Add {chosen.size} to {identity.name}
            </button>
          </>
        )}
      </div>
      {message && (
        <p role="status" className="status-line">
          {message}
        </p>
      )}
      {found && found.length > 0 && (
        <ul className="thumbs selectable" onKeyDown={onKeyDown}>
          {found.map(({ face, score }) => (
            <li key={face.id} className={chosen.has(face.id) ? "thumb chosen" : "thumb"}>
              <label>
                <input
                  type="checkbox"
                  data-choose={face.id}
                  checked={chosen.has(face.id)}
                  onChange={() => undefined /* decided on click, where Shift is known */}
                  onClick={(event) => choose(face.id, event.shiftKey)}
                  aria-label={`choose face ${face.id}`}
                />
                <FaceImage face={face} size={72} />
                <span className="thumb-label">
                  {pct(score, 0)} · {face.identity_name ?? "unknown"}
                </span>
              </label>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
