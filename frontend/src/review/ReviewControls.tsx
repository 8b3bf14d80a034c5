/**
 * The review screen's controls: its header (what is reviewed, the page size, today's decision
 * count, the shortcuts help) and the toolbar of actions under the faces, each a button for a key.
 */
import type { Identity, Queue } from "../api/client";
import { queueTitle } from "../components/format";
import { currentSearchParams } from "../hooks";
import { useSession } from "../session";
import { keysOf, type ShortcutAction } from "../shortcuts";
import type { View } from "./reviewState";
import { PAGE_SIZES } from "./reviewWork";
import { queueOrder, unverifiedCount } from "./sources";

/** The header: the page's title, the pickers of what to review and how much a page holds. */
export function ReviewHeader({
  title,
  queues,
  identities,
  queue,
  identityParam,
  pageSize,
  onNavigate,
  onToggleHelp,
}: {
  title: string | undefined;
  queues: Queue[];
  identities: Identity[];
  /** The queue under review; none when reviewing unverified faces. */
  queue: Queue | null;
  identityParam: number | null;
  pageSize: number;
  /** Go to these search params (a picker changed). */
  onNavigate: (next: URLSearchParams) => void;
  onToggleHelp: () => void;
}) {
  const { me } = useSession();
  return (
    <header className="review-head">
      <h1 id="review-title">
        Review{title !== undefined ? <>: <span className="claim">{title}</span></> : null}
      </h1>
      <label className="inline">
        Reviewing{" "}
        <select className="work-select"
          value={queue ? `q${queue.id}` : identityParam !== null ? `i${identityParam}` : "iall"}
          onChange={(event) => {
            const value = event.target.value;
            const next = currentSearchParams();
            next.delete("queue");
            next.delete("identity");
            if (value.startsWith("q")) next.set("queue", value.slice(1));
            else next.set("identity", value.slice(1));
            onNavigate(next);
          }}
        >
          {queues.length > 0 && (
            <optgroup label="Review queues">
              {queueOrder(queues).map((queue) => (
                <option key={queue.id} value={`q${queue.id}`}>
                  {queueTitle(queue.title)} ({queue.open_count} open)
                </option>
              ))}
            </optgroup>
          )}
          <optgroup label="Unverified faces">
            <option value="iall">Each identity in turn</option>
            {identities
              .filter((identity) => unverifiedCount(identity) > 0 || identity.id === identityParam)
              .map((identity) => (
                <option key={identity.id} value={`i${identity.id}`}>
                  {identity.name} ({unverifiedCount(identity)})
                </option>
              ))}
          </optgroup>
        </select>
      </label>
      <label className="inline">
        Page{" "}
        <select
          value={pageSize}
          onChange={(event) => {
            const next = currentSearchParams();
            next.set("size", event.target.value);
            onNavigate(next);
          }}
        >
          {[...new Set([...PAGE_SIZES, pageSize])].sort((a, b) => a - b).map((size) => (
            <option key={size} value={size}>
              {size} faces
            </option>
          ))}
        </select>
      </label>
      <span className="counter" data-testid="decisions-today" title="Label decisions you made today">
        Today: <strong>{me?.decisions_today ?? "…"}</strong> {me?.decisions_today === 1 ? "decision" : "decisions"}
      </span>
      <button type="button" className="secondary" aria-keyshortcuts="?" onClick={onToggleHelp}>
        Shortcuts <kbd>?</kbd>
      </button>
    </header>
  );
}

/** The actions under the faces; a click on the bar gives the keyboard back to the faces. */
export function ReviewToolbar({
  view,
  saving,
  run,
  onFocusFaces,
}: {
  view: View;
  saving: boolean;
  run: (action: ShortcutAction) => void;
  onFocusFaces: () => void;
}) {
  return (
    <div className="toolbar" role="toolbar" aria-label="Review actions" onClick={onFocusFaces}>
      <button type="button" aria-keyshortcuts="Enter" onClick={() => run("confirm")} disabled={saving}>
        {view === "grid" ? "Confirm page" : "Confirm face"} <kbd>{keysOf("confirm")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("toggleWrong")} disabled={saving}>
        Wrong <kbd>{keysOf("toggleWrong")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("relabel")} disabled={saving}>
        Relabel <kbd>{keysOf("relabel")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("unknown")} disabled={saving}>
        Unknown <kbd>{keysOf("unknown")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("notAFace")} disabled={saving}>
        Not a face <kbd>{keysOf("notAFace")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("undo")} disabled={saving}>
        Undo <kbd>{keysOf("undo")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("skip")} disabled={saving}>
        Skip <kbd>{keysOf("skip")}</kbd>
      </button>
      <button type="button" className="secondary" onClick={() => run("toggleView")}>
        {view === "grid" ? "One at a time" : "Grid"} <kbd>{keysOf("toggleView")}</kbd>
      </button>
    </div>
  );
}
