/** The team's annotators: gold accuracy, speed, agreement, a flag and their held decisions; undo or
 * re-review a time range. */
import { useState } from "react";
import { Link } from "react-router-dom";

import { api, type AnnotatorQuality } from "../api/client";
import { useLoad } from "../hooks";

const percent = (value: number | null | undefined) => (value == null ? "–" : `${Math.round(value * 100)}%`);

function toLocalInput(date: Date): string {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function RangeActions({ row, onDone }: { row: AnnotatorQuality; onDone: (text: string, error?: boolean) => void }) {
  const [since, setSince] = useState(() => toLocalInput(new Date(Date.now() - 24 * 3600 * 1000)));
  const [until, setUntil] = useState(() => toLocalInput(new Date(Date.now() + 60 * 1000)));
  const range = () => ({ since: new Date(since).toISOString(), until: new Date(until).toISOString() });

  async function act(kind: "undo" | "second") {
    const what = kind === "undo" ? "Undo every decision" : "Send every face decided";
    if (!window.confirm(`${what} of ${row.username} between ${since} and ${until}?`)) return;
    try {
      if (kind === "undo") {
        const result = await api.annotators.undoRange(row.user, range());
        const kept = result.kept_faces.length ? `; ${result.kept_faces.length} face(s) changed since were kept` : "";
        onDone(`Undid ${result.undone_decisions} decision(s) of ${row.username}, reopened ${result.reopened_items} item(s)${kept}.`);
      } else {
        const result = await api.annotators.secondReview(row.user, range());
        onDone(`Sent to second review: ${result.queues.map((q) => q.title).join("; ")}.`);
      }
    } catch (error) {
      onDone(error instanceof Error ? error.message : String(error), true);
    }
  }

  return (
    <span className="range-actions">
      <input type="datetime-local" aria-label={`From (${row.username})`} value={since} onChange={(e) => setSince(e.target.value)} />
      <input type="datetime-local" aria-label={`Until (${row.username})`} value={until} onChange={(e) => setUntil(e.target.value)} />
      <button type="button" onClick={() => void act("undo")}>Undo range</button>
      <button type="button" onClick={() => void act("second")}>Second review</button>
    </span>
  );
}

export function TeamPanel() {
  const report = useLoad(() => api.annotators.quality(), []);
  const [message, setMessage] = useState<{ text: string; error?: boolean } | null>(null);

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
          {message.text}
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
            <tr key={row.user}>
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
              <td>{row.held_decisions ? `${row.held_decisions} waiting` : "–"}</td>
              <td>
                <RangeActions
                  row={row}
                  onDone={(text, error) => {
                    setMessage({ text, error });
                    report.reload();
                  }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
