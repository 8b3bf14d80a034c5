/** The team's annotators: gold accuracy, speed, agreement, a flag and their held decisions (accept or
 * discard them all, undoable); undo or re-review a time range. */
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, type AnnotatorQuality } from "../api/client";
import { useLoad } from "../hooks";

const percent = (value: number | null | undefined) => (value == null ? "–" : `${Math.round(value * 100)}%`);

function toLocalInput(date: Date): string {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

type Range = { since: string; until: string };
type Message = { text: string; error?: boolean; undo?: string };

const isoRange = (range: Range) => ({ since: new Date(range.since).toISOString(), until: new Date(range.until).toISOString() });

function RangeActions({ row, range, setRange, onDone }: { row: AnnotatorQuality; range: Range; setRange: (range: Range) => void; onDone: (message: Message) => void }) {
  async function act(kind: "undo" | "second") {
    const what = kind === "undo" ? "Undo every decision" : "Send every face decided";
    if (!window.confirm(`${what} of ${row.username} between ${range.since} and ${range.until}?`)) return;
    try {
      if (kind === "undo") {
        const result = await api.annotators.undoRange(row.user, isoRange(range));
        const kept = result.kept_faces.length ? `; ${result.kept_faces.length} face(s) changed since were kept` : "";
        onDone({ text: `Undid ${result.undone_decisions} decision(s) of ${row.username}, reopened ${result.reopened_items} item(s)${kept}.` });
      } else {
        const result = await api.annotators.secondReview(row.user, isoRange(range));
        onDone({ text: `Sent to second review: ${result.queues.map((q) => q.title).join("; ")}.` });
      }
    } catch (error) {
      onDone({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  return (
    <span className="range-actions">
      <input type="datetime-local" aria-label={`From (${row.username})`} value={range.since} onChange={(e) => setRange({ ...range, since: e.target.value })} />
      <input type="datetime-local" aria-label={`Until (${row.username})`} value={range.until} onChange={(e) => setRange({ ...range, until: e.target.value })} />
      <button type="button" onClick={() => void act("undo")}>Undo range</button>
      <button type="button" onClick={() => void act("second")}>Second review</button>
    </span>
  );
}

/** Accept or discard all of one annotator's held decisions (or those made in the row's range) in one operation. */
function HeldActions({ row, range, onDone }: { row: AnnotatorQuality; range: Range; onDone: (message: Message) => void }) {
  const [inRange, setInRange] = useState(false);
  if (!row.held_decisions) return <>–</>;

  async function settle(what: "accept" | "discard") {
    const which = inRange ? `made between ${range.since} and ${range.until}` : `(${row.held_decisions})`;
    const effect =
      what === "accept"
        ? "Each proposed label is applied as your decision (a label event each)."
        : "No label changes; the faces go back into their queues for someone else.";
    if (!window.confirm(`${what === "accept" ? "Accept" : "Discard"} all held decisions of ${row.username} ${which}? ${effect} You can undo it.`)) return;
    try {
      const result = await api.annotators.settleHeld(row.user, what, inRange ? isoRange(range) : {});
      const changed = result.changed_faces.length ? `; ${result.changed_faces.length} face(s) relabelled since by someone else still wait` : "";
      const done =
        what === "accept"
          ? `Accepted ${result.settled} held decision(s) of ${row.username}: ${result.label_events} label(s) changed${changed}.`
          : `Discarded ${result.settled} held decision(s) of ${row.username}: ${result.reopened_items} item(s) back in their queues.`;
      onDone({ text: done, undo: result.operation });
    } catch (error) {
      onDone({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  return (
    <span className="held-actions">
      {row.held_decisions} waiting{" "}
      <button type="button" onClick={() => void settle("accept")}>
        Accept all {row.held_decisions}
      </button>
      <button type="button" onClick={() => void settle("discard")}>
        Discard all {row.held_decisions}
      </button>
      <label>
        <input type="checkbox" checked={inRange} onChange={(e) => setInRange(e.target.checked)} /> only in the range
      </label>
    </span>
  );
}

function AnnotatorRow({ row, onDone }: { row: AnnotatorQuality; onDone: (message: Message) => void }) {
  const [range, setRange] = useState<Range>(() => ({
    since: toLocalInput(new Date(Date.now() - 24 * 3600 * 1000)),
    until: toLocalInput(new Date(Date.now() + 60 * 1000)),
  }));
  return (
    <tr>
      <td>{row.username}</td>
      <td>{row.decisions}</td>
      <td>
        {percent(row.gold.accuracy)} of {row.gold.answered}
        {row.gold.low != null && ` (${percent(row.gold.low)}–${percent(row.gold.high)})`}
      </td>
      <td>{row.decisions_per_hour ?? "–"}</td>
      <td>{percent(row.pages_confirmed_unchanged)}</td>
      <td>
        {percent(row.agreement.rate)} of {row.agreement.pairs}
      </td>
      <td>{row.flagged ? <strong className="error">flagged</strong> : "ok"}</td>
      <td>
        <HeldActions row={row} range={range} onDone={onDone} />
      </td>
      <td>
        <RangeActions row={row} range={range} setRange={setRange} onDone={onDone} />
      </td>
    </tr>
  );
}

export function TeamPanel() {
  const report = useLoad(() => api.annotators.quality(), []);
  const [message, setMessage] = useState<Message | null>(null);
  const done = (next: Message) => {
    setMessage(next);
    report.reload();
  };

  async function undo(operation: string) {
    try {
      const result = await api.review.undo(operation);
      done({ text: `Undone: ${result.undone_decisions} held decision(s) wait again, ${result.undone_label_events} label(s) restored.` });
    } catch (error) {
      done({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  return (
    <section className="panel" aria-labelledby="team-title">
      <h2 id="team-title">Annotators</h2>
      <p className="hint">
        Last 30 days. Gold accuracy: answers on gold faces (settled labels mixed into review pages), with its 95% interval;
        flagged when at least {report.data ? report.data.min_gold : "the minimum of"} gold answers stand behind it and
        the upper bound is under {report.data ? percent(report.data.flag_below) : "the threshold"}.
      </p>
      {report.data && (
        <p className="hint" data-testid="hold-flagged">
          {report.data.hold_flagged
            ? "A flagged annotator's decisions are held: they count only once a second annotator or an admin agrees. "
            : "A flagged annotator's decisions count at once (FACECURATOR_HOLD_FLAGGED is off); held decisions are second opinions only. "}
          {report.data.second_opinions_queue != null ? (
            <Link to={`/review?queue=${report.data.second_opinions_queue}`}>Review held decisions</Link>
          ) : (
            "No decision is waiting for review."
          )}
        </p>
      )}
      {message && (
        <p role="status" className={message.error ? "error" : "status-line"}>
          {message.text}{" "}
          {message.undo && (
            <button type="button" onClick={() => void undo(message.undo!)}>
              Undo
            </button>
          )}
        </p>
      )}
      {report.error && <p className="error">{report.error}</p>}
      {report.data && report.data.annotators.length === 0 && <p>No decisions in the last 30 days.</p>}
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Annotator</th>
            <th scope="col">Decisions</th>
            <th scope="col">Gold accuracy</th>
            <th scope="col">Per hour</th>
            <th scope="col">Pages all confirmed</th>
            <th scope="col">Agreement</th>
            <th scope="col">Flag</th>
            <th scope="col" title="Decisions waiting for a second annotator or an admin before they count.">Held</th>
            <th scope="col">Act on a time range</th>
          </tr>
        </thead>
        <tbody>
          {(report.data?.annotators ?? []).map((row) => (
            <AnnotatorRow key={row.user} row={row} onDone={done} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
