/** The audit log: every label change, newest first, with undo for your own decisions. */
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { api, type LabelEvent } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { STATUS_LABELS, when } from "../components/format";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { useSession } from "../session";

function LabelCell({ identity, name, status }: { identity: number | null; name: string | null; status: string }) {
  return (
    <>
      {identity ? <Link to={`/identities/${identity}`}>{name}</Link> : <em>unknown</em>} · {STATUS_LABELS[status] ?? status}
    </>
  );
}

export function EventsScreen() {
  useDocumentTitle("Label events");
  const { me, isAdmin } = useSession();
  const [params, setParams] = useSearchParams();
  const mine = params.get("mine") !== "0";
  const face = params.get("face");
  const pageNumber = Number(params.get("page") ?? 1);
  const [message, setMessage] = useState<string | null>(null);
  const events = useLoad(
    () => api.labelEvents.list({ user: mine ? me?.id : undefined, face: face ?? undefined, page: pageNumber, page_size: 50 }),
    [mine, face, pageNumber, me?.id],
  );

  function update(change: Record<string, string | null>) {
    const next = currentSearchParams();
    for (const [key, value] of Object.entries(change)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setParams(next);
  }

  async function undo(event: LabelEvent) {
    try {
      await api.labelEvents.undo(event.id);
      setMessage(`Undid event ${event.id}.`);
      events.reload();
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    }
  }

  const rows = events.data?.results ?? [];
  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">Label events</h1>
      <div className="filters">
        <label className="inline">
          <input type="checkbox" checked={mine} onChange={(event) => update({ mine: event.target.checked ? null : "0", page: null })} /> Only mine
        </label>
        {face && (
          <span>
            Face {face}{" "}
            <button type="button" className="link" onClick={() => update({ face: null })}>
              all faces
            </button>
          </span>
        )}
        <span className="muted">{events.data ? `${events.data.count} events` : ""}</span>
      </div>
      {message && (
        <p role="status" className="status-line">
          {message}
        </p>
      )}
      {events.error && <p className="error">{events.error}</p>}
      <table className="data" data-testid="label-events">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Face</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">Reason</th>
            <th scope="col">
              <span className="sr-only">Undo</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((event) => (
            <tr key={event.id} data-event={event.id} className={event.undone_by ? "undone" : undefined}>
              <td>{when(event.created_at)}</td>
              <td>{event.user ?? "–"}</td>
              <td>
                <button type="button" className="link face-link" onClick={() => update({ face: String(event.face), mine: "0", page: null })} aria-label={`face ${event.face}: its events`}>
                  <FaceImage face={{ id: event.face, crop_url: event.face_crop_url }} size={40} alt={`face ${event.face}`} /> {event.face}
                </button>
              </td>
              <td>
                <LabelCell identity={event.from_identity} name={event.from_identity_name} status={event.from_status} />
              </td>
              <td>
                <LabelCell identity={event.to_identity} name={event.to_identity_name} status={event.to_status} />
              </td>
              <td>{event.reason}</td>
              <td>
                {event.undone_by ? (
                  <span className="muted">undone</span>
                ) : event.undoes ? (
                  <span className="muted">undo of {event.undoes}</span>
                ) : (isAdmin || event.user === me?.username) ? (
                  <button type="button" className="link" onClick={() => void undo(event)}>
                    Undo
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
          {!rows.length && !events.loading && (
            <tr>
              <td colSpan={7} className="muted">
                No label events.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Pager page={pageNumber} hasNext={Boolean(events.data?.next)} onPage={(page) => update({ page: String(page) })} />
    </section>
  );
}

export function Pager({ page, hasNext, onPage }: { page: number; hasNext: boolean; onPage: (page: number) => void }) {
  if (page <= 1 && !hasNext) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>Page {page}</span>
      <button type="button" className="secondary" disabled={!hasNext} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
