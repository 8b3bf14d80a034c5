/**
 * The annotators' review screen: a page of faces claimed to be one identity (or one at a time),
 * that identity's verified faces beside them, and every decision on the keyboard. A page of mixed
 * claims shows one group per claimed identity, each beside that identity's verified faces. A range
 * of faces (Shift+click, Shift+arrows) takes a key's decision all at once.
 */
import { useCallback, useEffect, useEffectEvent, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import { useSearchParams } from "react-router-dom";

import { ApiError, api, type Identity, type Queue } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { HelpOverlay, ShortcutLegend } from "../components/ShortcutHelp";
import { pct, queueTitle } from "../components/format";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { useSession } from "../session";
import { acceptsPageShortcuts, keysOf, matchShortcut, shortcutFor, type ShortcutAction } from "../shortcuts";
import { RelabelDialog } from "./RelabelDialog";
import {
  claimGroups,
  initialReviewState,
  pendingVerdicts,
  reviewReducer,
  selectedIndexes,
  targetIndexes,
  undecidedIndexes,
  type ClaimGroup,
  type IdentityRef,
  type ReviewFace,
  type ReviewItem,
  type Verdict,
} from "./reviewState";
import { DEFAULT_PAGE_SIZE, IdentityFacesSource, QueueSource, mapLimit, queueOrder, unverifiedCount, type ReviewSource } from "./sources";

const VERDICT_LABELS: Record<Verdict, string> = {
  confirm: "confirmed",
  wrong: "not this person",
  relabel: "relabelled",
  unknown: "unknown person",
  not_a_face: "not a face",
};

/** Identities to review, in order: the one asked for first, then VIPs and the most unverified. */
export function reviewOrder(identities: Identity[], first: number | null): IdentityRef[] {
  const open = identities.filter((identity) => unverifiedCount(identity) > 0 || identity.id === first);
  open.sort(
    (a, b) =>
      Number(b.id === first) - Number(a.id === first) ||
      Number(b.role === "vip") - Number(a.role === "vip") ||
      unverifiedCount(b) - unverifiedCount(a) ||
      a.name.localeCompare(b.name),
  );
  return open.map(({ id, name }) => ({ id, name }));
}

const PAGE_SIZES = [24, 32, 40, 48, 60];

function clampPageSize(value: string | null): number {
  const size = Number(value);
  return Number.isFinite(size) && size > 0 ? Math.min(60, Math.max(24, Math.round(size))) : DEFAULT_PAGE_SIZE;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What to review: the queue asked for (?queue=), else unverified faces when asked for
 * (?identity=<id> or ?identity=all), else the most urgent open queue, else unverified faces.
 */
export function chooseWork(queues: Queue[], queueParam: number | null, wantsFaces: boolean): { queue: Queue | null } {
  if (queueParam !== null) return { queue: queues.find((queue) => queue.id === queueParam) ?? null };
  if (wantsFaces) return { queue: null };
  return { queue: queueOrder(queues).find((queue) => queue.open_count > 0) ?? null };
}

export function ReviewScreen() {
  const [params, setParams] = useSearchParams();
  const wantsFaces = params.has("identity");
  const identityParam = params.get("identity") && params.get("identity") !== "all" ? Number(params.get("identity")) : null;
  const queueParam = params.get("queue") ? Number(params.get("queue")) : null;
  const pageSize = clampPageSize(params.get("size"));
  const identities = useLoad(() => api.identities.all(), []);
  const queues = useLoad(() => api.review.queues().then((answer) => answer.results).catch(() => [] as Queue[]), []);
  const [state, dispatch] = useReducer(reviewReducer, initialReviewState);
  // Where pages come from and decisions go: an external resource (it leases items) that the effect below
  // creates and closes; not rendered, so a ref, read when an action runs.
  const sourceRef = useRef<ReviewSource | null>(null);
  // The verified faces of each claimed identity on a mixed page, with the claims they were read for.
  const [groupRefs, setGroupRefs] = useState<{ claimIds: number[]; refs: Map<number, ReviewFace[]> } | null>(null);
  const [retryNotice, setRetryNotice] = useState<string | null>(null);
  const { me, refresh: refreshMe } = useSession();
  const gridRef = useRef<HTMLDivElement>(null);
  const page = state.page;
  const item: ReviewItem | undefined = page?.items[state.cursor];
  useDocumentTitle(page ? `Review ${page.title}` : "Review");

  const order = useMemo(() => reviewOrder(identities.data ?? [], identityParam), [identities.data, identityParam]);
  const work = useMemo(() => chooseWork(queues.data ?? [], queueParam, wantsFaces), [queues.data, queueParam, wantsFaces]);

  useEffect(() => {
    if (!identities.data || !queues.data) return undefined;
    const fresh: ReviewSource = work.queue ? new QueueSource(work.queue, pageSize) : new IdentityFacesSource(order, pageSize);
    if (fresh instanceof QueueSource) fresh.onRetry = setRetryNotice;
    sourceRef.current = fresh;
    dispatch({ type: "loading" });
    fresh
      .next()
      .then((next) => dispatch({ type: "pageLoaded", page: next }))
      .catch((error) => dispatch({ type: "message", text: describeError(error), tone: "error" }));
    // Leaving the screen or the page gives the leased items back for other annotators.
    const leave = () => fresh.close();
    window.addEventListener("pagehide", leave);
    return () => {
      window.removeEventListener("pagehide", leave);
      fresh.close();
      if (sourceRef.current === fresh) sourceRef.current = null;
    };
  }, [identities.data, queues.data, work, order, pageSize]);

  // A page of mixed claims shows each group beside the verified faces of the identity it claims.
  const groups = useMemo(() => (page ? claimGroups(page) : []), [page]);
  const claimIds = useMemo(() => (page && !page.claim ? [...new Set(groups.flatMap((group) => (group.claim ? [group.claim.id] : [])))] : []), [page, groups]);
  useEffect(() => {
    const source = sourceRef.current;
    if (!source || !claimIds.length) return undefined;
    let live = true;
    void mapLimit(claimIds, 4, async (id) => [id, await source.references(id)] as const).then((found) => live && setGroupRefs({ claimIds, refs: new Map(found) }));
    return () => {
      live = false;
    };
  }, [claimIds]);
  const claimReferences = groupRefs?.claimIds === claimIds ? groupRefs.refs : null; // none until this page's arrive
  const references = page?.claim ? page.references : [];
  const referenceName = page?.claim?.name ?? null;
  const selected = new Set(selectedIndexes(state));

  // Up/down move by the number of columns the grid shows at this width (every group has as many).
  useEffect(() => {
    const grid = gridRef.current;
    if (!grid || typeof ResizeObserver === "undefined") return undefined;
    const measure = () => {
      const cells = grid.querySelector(".face-grid, .face-strip") ?? grid;
      const columns = getComputedStyle(cells).gridTemplateColumns.split(" ").filter(Boolean).length;
      dispatch({ type: "setColumns", columns: columns || 1 });
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(grid);
    return () => observer.disconnect();
  }, [page?.key, state.view]);

  useEffect(() => {
    gridRef.current?.querySelector<HTMLElement>('[aria-current="true"]')?.scrollIntoView?.({ block: "nearest" });
  }, [state.cursor, page?.key]);

  const loadNext = useCallback(async () => {
    const source = sourceRef.current;
    if (!source) return;
    dispatch({ type: "loading" });
    try {
      dispatch({ type: "pageLoaded", page: await source.next(), keepHistory: true });
    } catch (error) {
      dispatch({ type: "message", text: describeError(error), tone: "error" });
    }
  }, []);

  /** A save starts without the retry notice of an earlier one (a notice lasts while its save does). */
  function startSaving() {
    setRetryNotice(null);
    dispatch({ type: "saving", saving: true });
  }

  async function onStale(faceId: number) {
    const source = sourceRef.current;
    if (!source) return;
    const [face] = await source.refresh([faceId]);
    dispatch({ type: "faceRefreshed", face });
    dispatch({ type: "message", text: `Face ${faceId} changed since it was shown (someone else labelled it); it is reloaded: decide again.`, tone: "error" });
  }

  async function decide(verdict: Verdict, identity?: IdentityRef | null) {
    const source = sourceRef.current;
    if (!source || !page || !item || state.saving) return;
    if (item.decided) {
      dispatch({ type: "message", text: `Face ${item.face.id} is already ${VERDICT_LABELS[item.decided.verdict]}; press ${keysOf("undo")} to undo.` });
      return;
    }
    const index = state.cursor;
    const lastOpen = undecidedIndexes(page).length === 1;
    startSaving();
    try {
      const decision = await source.decide(item, verdict, identity);
      dispatch({ type: "decided", index, decision });
      dispatch({ type: "message", text: `Face ${item.face.id}: ${VERDICT_LABELS[verdict]}${identity ? ` as ${identity.name}` : ""}.` });
      refreshMe();
      if (lastOpen && state.view === "single") {
        dispatch({ type: "pageDone", eventIds: [] });
        await loadNext();
      }
    } catch (error) {
      dispatch({ type: "saving", saving: false });
      if (error instanceof ApiError && error.isConflict) await onStale(item.face.id);
      else dispatch({ type: "message", text: describeError(error), tone: "error" });
    }
  }

  /** A key's decision on the selected range (or, with none, on the face under the cursor). */
  async function decideTargets(verdict: Verdict, identity?: IdentityRef | null) {
    if (state.anchor === null) return decide(verdict, identity);
    const source = sourceRef.current;
    if (!source || !page || state.saving) return;
    const indexes = targetIndexes(state);
    if (!indexes.length) {
      dispatch({ type: "clearSelection" });
      dispatch({ type: "message", text: "Every face of the selected range is decided already." });
      return;
    }
    startSaving();
    try {
      const outcome = await source.confirmPage(page, indexes.map((index) => ({ index, verdict, identity })));
      refreshMe();
      if (outcome.decided.size) dispatch({ type: "decidedMany", decisions: [...outcome.decided], eventIds: outcome.eventIds, operation: outcome.operation });
      for (const face of outcome.stale) dispatch({ type: "faceRefreshed", face });
      const done = `${outcome.decided.size} ${outcome.decided.size === 1 ? "face" : "faces"}: ${VERDICT_LABELS[verdict]}${identity ? ` as ${identity.name}` : ""}`;
      const problems = [
        outcome.stale.length ? `${outcome.stale.length} face(s) changed since shown and were reloaded` : "",
        outcome.failed.size ? `${outcome.failed.size} failed (${[...outcome.failed.values()][0]})` : "",
      ].filter(Boolean);
      dispatch(problems.length ? { type: "message", text: `${done}; ${problems.join("; ")}.`, tone: "error" } : { type: "message", text: `${done}.` });
    } catch (error) {
      dispatch({ type: "saving", saving: false });
      dispatch({ type: "message", text: describeError(error), tone: "error" });
    }
  }

  async function confirmPage() {
    const source = sourceRef.current;
    if (!source || !page || state.saving) return;
    const verdicts = pendingVerdicts(page);
    if (!verdicts.length) {
      dispatch({ type: "pageDone", eventIds: [] });
      await loadNext();
      return;
    }
    startSaving();
    try {
      const outcome = await source.confirmPage(page, verdicts);
      refreshMe();
      if (!outcome.stale.length && !outcome.failed.size) {
        const wrong = verdicts.filter((v) => v.verdict === "wrong").length;
        dispatch({ type: "message", text: `Page confirmed: ${verdicts.length - wrong} confirmed, ${wrong} marked wrong.` });
        dispatch({ type: "pageDone", eventIds: outcome.eventIds, operation: outcome.operation });
        await loadNext();
        return;
      }
      for (const [index, decision] of outcome.decided) dispatch({ type: "decided", index, decision });
      for (const face of outcome.stale) dispatch({ type: "faceRefreshed", face });
      const problems = [
        outcome.stale.length ? `${outcome.stale.length} face(s) changed since shown and were reloaded` : "",
        outcome.failed.size ? `${outcome.failed.size} failed (${[...outcome.failed.values()][0]})` : "",
      ].filter(Boolean);
      dispatch({ type: "message", text: `${outcome.decided.size} saved; ${problems.join("; ")}. Check them and press ${keysOf("confirm")} again.`, tone: "error" });
    } catch (error) {
      dispatch({ type: "message", text: describeError(error), tone: "error" });
    }
  }

  async function skip() {
    const source = sourceRef.current;
    if (!source || !page || state.saving) return;
    try {
      const operation = await source.skip(page);
      dispatch({ type: "skipped", operation });
      dispatch({ type: "message", text: `Skipped the page of ${page.title}.` });
      await loadNext();
    } catch (error) {
      dispatch({ type: "message", text: describeError(error), tone: "error" });
    }
  }

  async function undo() {
    const source = sourceRef.current;
    if (!source || state.saving) return;
    const last = state.history[state.history.length - 1];
    if (!last) {
      dispatch({ type: "message", text: "Nothing to undo." });
      return;
    }
    if (last.kind === "mark" || last.kind === "marks") {
      dispatch({ type: "undoMark" });
      return;
    }
    startSaving();
    try {
      if (last.kind === "decision") {
        const faceId = page!.items[last.index].face.id;
        await source.undo(last.decision.eventIds, last.decision.operation);
        const [face] = await source.refresh([faceId]);
        dispatch({ type: "undoneDecision", index: last.index, face });
        dispatch({ type: "message", text: `Undid the decision on face ${faceId}.` });
      } else if (last.kind === "decisions") {
        await source.undo(last.eventIds, last.operation);
        const faces = await source.refresh(last.indexes.map((index) => page!.items[index].face.id));
        dispatch({ type: "undoneDecisions", faces });
        dispatch({ type: "message", text: `Undid the decisions on ${last.indexes.length} faces.` });
      } else {
        if (last.kind === "page" && (last.eventIds.length || last.operation)) await source.undo(last.eventIds, last.operation);
        if (last.kind === "skip" && last.operation) await source.undo([], last.operation);
        const faces = await source.refresh(last.page.items.map((entry) => entry.face.id));
        if (page) source.putBack(page);
        dispatch({ type: "pageRestored", faces });
        dispatch({ type: "message", text: last.kind === "page" ? `Undid the confirmation of the page “${last.page.title}”.` : `Back to the skipped page of ${last.page.title}.` });
      }
      refreshMe();
    } catch (error) {
      dispatch({ type: "saving", saving: false });
      dispatch({ type: "message", text: `Undo failed: ${describeError(error)}`, tone: "error" });
    }
  }

  const run = (action: ShortcutAction) => {
    switch (action) {
      case "help":
        dispatch({ type: "toggleHelp" });
        break;
      case "closeDialog":
        dispatch(state.dialog ? { type: "closeDialog" } : { type: "clearSelection" });
        break;
      case "extendLeft":
      case "extendRight":
      case "extendUp":
      case "extendDown": {
        const direction = ({ extendLeft: "left", extendRight: "right", extendUp: "up", extendDown: "down" } as const)[action];
        const single = state.view === "single"; // one at a time: up and down walk the strip, as the arrows do
        dispatch({ type: "move", direction: single && direction === "up" ? "left" : single && direction === "down" ? "right" : direction, extend: true });
        break;
      }
      case "moveLeft":
        dispatch({ type: "move", direction: "left" });
        break;
      case "moveRight":
        dispatch({ type: "move", direction: "right" });
        break;
      case "moveUp":
        dispatch({ type: "move", direction: state.view === "single" ? "left" : "up" });
        break;
      case "moveDown":
        dispatch({ type: "move", direction: state.view === "single" ? "right" : "down" });
        break;
      case "toggleWrong":
        if (state.view === "single") void decideTargets("wrong");
        else dispatch({ type: "toggleMark" });
        break;
      case "confirm":
        if (state.view === "single") void decide("confirm");
        else void confirmPage();
        break;
      case "relabel":
        if (targetIndexes(state).length) dispatch({ type: "openDialog", dialog: "relabel" });
        break;
      case "unknown":
        void decideTargets("unknown");
        break;
      case "notAFace":
        void decideTargets("not_a_face");
        break;
      case "undo":
        void undo();
        break;
      case "skip":
        void skip();
        break;
      case "toggleView":
        dispatch({ type: "toggleView" });
        break;
      default:
        break;
    }
  };
  // Attached once; as an Effect Event it sees the latest dialog and `run`.
  const onKeyDown = useEffectEvent((event: KeyboardEvent) => {
    const action = matchShortcut(event, ["review", "global"]);
    if (!action) return;
    if (state.dialog && action !== "closeDialog" && action !== "help") return;
    // Page shortcuts act on the grid; on a focused button or control the key does what the browser does.
    if (!state.dialog && shortcutFor(action).scope === "review" && !acceptsPageShortcuts(event.target, gridRef.current)) return;
    if (state.dialog === "relabel" && action === "help") return;
    event.preventDefault();
    run(action);
  });
  useEffect(() => {
    const listener = (event: KeyboardEvent) => onKeyDown(event);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);

  function renderCell(entry: ReviewItem, index: number) {
    return (
      <li
        key={entry.key}
        role="option"
        aria-selected={selected.has(index)}
        className={[
          "face-cell",
          index === state.cursor ? "cursor" : "",
          selected.has(index) ? "selected" : "",
          entry.marked ? "marked" : "",
          entry.decided ? `decided verdict-${entry.decided.verdict}` : "",
        ].join(" ")}
        aria-current={index === state.cursor ? "true" : undefined}
        id={`face-cell-${entry.face.id}`}
        data-face={entry.face.id}
        data-marked={entry.marked ? "true" : "false"}
        data-verdict={entry.decided?.verdict ?? ""}
        title={[entry.claim?.name, entry.reason].filter(Boolean).join(": ") || undefined}
        onClick={(event) => {
          // Shift+click selects the range from the cursor (or the range's start) to this face.
          if (event.shiftKey) return dispatch({ type: "setCursor", index, extend: true });
          dispatch({ type: "setCursor", index });
          if (state.view === "grid" && !entry.decided) dispatch({ type: "toggleMark" });
        }}
      >
        <FaceImage face={entry.face} size={state.view === "grid" ? 88 : 48} />
        {entry.marked && !entry.decided && <span className="mark" aria-label="marked wrong">✕</span>}
        {entry.decided && <VerdictLabel decision={entry.decided} />}
      </li>
    );
  }

  const marked = page?.items.filter((entry) => entry.marked && !entry.decided).length ?? 0;
  const open = undecidedIndexes(page).length;

  return (
    <section className="review" aria-labelledby="review-title">
      <header className="review-head">
        <h1 id="review-title">
          Review{page ? <>: <span className="claim">{page.title}</span></> : null}
        </h1>
        <label className="inline">
          Reviewing{" "}
          <select className="work-select"
            value={work.queue ? `q${work.queue.id}` : identityParam !== null ? `i${identityParam}` : "iall"}
            onChange={(event) => {
              const value = event.target.value;
              const next = currentSearchParams();
              next.delete("queue");
              next.delete("identity");
              if (value.startsWith("q")) next.set("queue", value.slice(1));
              else next.set("identity", value.slice(1));
              setParams(next);
              gridRef.current?.focus(); // arrows move between faces again, not between queues
            }}
          >
            {(queues.data ?? []).length > 0 && (
              <optgroup label="Review queues">
                {queueOrder(queues.data ?? []).map((queue) => (
                  <option key={queue.id} value={`q${queue.id}`}>
                    {queueTitle(queue.title)} ({queue.open_count} open)
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="Unverified faces">
              <option value="iall">Each identity in turn</option>
              {(identities.data ?? [])
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
              setParams(next);
              gridRef.current?.focus();
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
        <button type="button" className="secondary" aria-keyshortcuts="?" onClick={() => dispatch({ type: "toggleHelp" })}>
          Shortcuts <kbd>?</kbd>
        </button>
      </header>

      <p className={`status-line ${state.message?.tone === "error" ? "error" : ""}`} role="status" aria-live="polite" data-testid="review-status">
        {state.saving ? retryNotice ?? "Saving…" : state.message?.text ?? (page ? `${selected.size ? `${selected.size} selected · ` : ""}${open} open on this page, ${marked} marked wrong${page.remaining != null ? ` · ${page.remaining} ${page.remainingWhat ?? "left"}` : ""}.` : "")}
      </p>

      {identities.error && <p className="error">{identities.error}</p>}
      {state.loading && !page && <p className="muted">Loading the next page…</p>}
      {state.finished && !state.loading && (
        <div className="empty">
          <h2>Nothing left to review</h2>
          <p>Every face of {identityParam ? "this identity" : "every identity"} is verified. Pick another identity above, or wait for the next training run's queues.</p>
          {state.history.length > 0 && (
            <button type="button" onClick={() => void undo()}>
              Undo the last page <kbd>{keysOf("undo")}</kbd>
            </button>
          )}
        </div>
      )}

      {page && (
        <div className={`review-body view-${state.view}`}>
          <aside className="references" aria-label={referenceName ? `Verified faces of ${referenceName}` : "Verified faces"}>
            {page.claim ? (
              <>
                <h2 className="claim-name" title={referenceName ?? undefined}>{referenceName}: verified</h2>
                {references.length ? (
                  <ul className="ref-grid">
                    {references.map((face) => (
                      <li key={face.id}>
                        <FaceImage face={face} size={72} alt={`verified face of ${referenceName}`} />
                      </li>
                    ))}
                  </ul>
                ) : (
                  <p className="muted">No verified faces yet.</p>
                )}
              </>
            ) : (
              <>
                <h2>Mixed claims</h2>
                <p className="muted">Each group of faces sits beside the verified faces of the identity it is claimed to be.</p>
              </>
            )}
            {!page.claim && item?.reason && <p className="muted reason">{item.reason}</p>}
          </aside>

          <div className="review-main">
            {state.view === "single" && item && <SingleItem item={item} index={state.cursor} total={page.items.length} />}
            <div
              ref={gridRef}
              tabIndex={0}
              role="listbox"
              aria-multiselectable="true"
              aria-activedescendant={page.items[state.cursor] ? `face-cell-${page.items[state.cursor].face.id}` : undefined}
              className="review-grid"
              aria-label={`Faces claimed to be ${page.title}`}
              data-testid="review-grid"
            >
              {state.view === "single" || page.claim ? (
                <ol className={state.view === "grid" ? "face-grid" : "face-strip"} role="presentation">
                  {page.items.map((entry, index) => renderCell(entry, index))}
                </ol>
              ) : (
                groups.map((group) => <ClaimGroupRow key={`${group.claim?.id ?? "none"}-${group.start}`} group={group} references={group.claim ? claimReferences?.get(group.claim.id) : undefined}>
                  {page.items.slice(group.start, group.start + group.size).map((entry, offset) => renderCell(entry, group.start + offset))}
                </ClaimGroupRow>)
              )}
            </div>
            <div className="toolbar" role="toolbar" aria-label="Review actions" onClick={() => gridRef.current?.focus()}>
              <button type="button" aria-keyshortcuts="Enter" onClick={() => run("confirm")} disabled={state.saving}>
                {state.view === "grid" ? "Confirm page" : "Confirm face"} <kbd>{keysOf("confirm")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("toggleWrong")} disabled={state.saving}>
                Wrong <kbd>{keysOf("toggleWrong")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("relabel")} disabled={state.saving}>
                Relabel <kbd>{keysOf("relabel")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("unknown")} disabled={state.saving}>
                Unknown <kbd>{keysOf("unknown")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("notAFace")} disabled={state.saving}>
                Not a face <kbd>{keysOf("notAFace")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("undo")} disabled={state.saving}>
                Undo <kbd>{keysOf("undo")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("skip")} disabled={state.saving}>
                Skip <kbd>{keysOf("skip")}</kbd>
              </button>
              <button type="button" className="secondary" onClick={() => run("toggleView")}>
                {state.view === "grid" ? "One at a time" : "Grid"} <kbd>{keysOf("toggleView")}</kbd>
              </button>
            </div>
          </div>

          <aside className="legend-box" aria-label="Shortcuts">
            <ShortcutLegend />
          </aside>
        </div>
      )}

      {state.dialog === "help" && <HelpOverlay onClose={() => dispatch({ type: "closeDialog" })} />}
      {state.dialog === "relabel" && item && (
        <RelabelDialog
          item={item}
          count={targetIndexes(state).length}
          loadSuggestions={(entry) => sourceRef.current?.suggestions(entry) ?? Promise.resolve(entry.suggestions)}
          onClose={() => dispatch({ type: "closeDialog" })}
          onChoose={(identity) => {
            dispatch({ type: "closeDialog" });
            void decideTargets("relabel", identity);
          }}
        />
      )}
    </section>
  );
}

/** What was decided on a face, on the face; cut short in a small cell, so said in full on hover. */
function VerdictLabel({ decision }: { decision: NonNullable<ReviewItem["decided"]> }) {
  const text = decision.verdict === "relabel" ? `→ ${decision.identity?.name ?? ""}` : VERDICT_LABELS[decision.verdict];
  return (
    <span className="verdict" title={text}>
      {text}
    </span>
  );
}

/** One claimed identity's faces on a mixed page, its name and verified faces beside them. */
function ClaimGroupRow({ group, references, children }: { group: ClaimGroup; references: ReviewFace[] | undefined; children: ReactNode }) {
  const name = group.claim?.name ?? "No identity claimed";
  const headingId = `claim-group-${group.start}`;
  return (
    <section className="claim-group" role="group" aria-labelledby={headingId} data-testid="claim-group" data-claim={group.claim?.id ?? ""}>
      <div className="claim-head">
        <h3 id={headingId} className="claim-name" title={name}>
          {name}
        </h3>
        <p className="muted">
          {group.size} {group.size === 1 ? "face" : "faces"}
          {group.claim ? " claimed" : ""}
        </p>
        {group.claim && (
          references === undefined ? null : references.length ? (
            <div className="ref-grid small" role="group" aria-label={`Verified faces of ${name}`}>
              {references.slice(0, 4).map((face) => (
                <FaceImage key={face.id} face={face} size={56} alt={`verified face of ${name}`} />
              ))}
            </div>
          ) : (
            <p className="muted">No verified faces yet.</p>
          )
        )}
      </div>
      <ol className="face-grid" role="presentation">
        {children}
      </ol>
    </section>
  );
}

function SingleItem({ item, index, total }: { item: ReviewItem; index: number; total: number }) {
  return (
    <div className="single" data-testid="single-item">
      <FaceImage face={item.face} size={224} />
      <dl>
        <dt>Face</dt>
        <dd>
          {item.face.id} ({index + 1} of {total})
        </dd>
        <dt>Claimed</dt>
        <dd>{item.claim?.name ?? "unknown"}</dd>
        <dt>Source</dt>
        <dd>
          {item.face.source} · {item.face.split}
          {item.face.quality != null ? ` · quality ${pct(item.face.quality, 0)}` : ""}
        </dd>
        {item.reason && (
          <>
            <dt>Why</dt>
            <dd>{item.reason}</dd>
          </>
        )}
        {item.suggestions.length > 0 && (
          <>
            <dt>Model suggests</dt>
            <dd>{item.suggestions.map((s) => `${s.name}${s.score != null ? ` ${pct(s.score, 0)}` : ""}`).join(", ")}</dd>
          </>
        )}
        {item.decided && (
          <>
            <dt>Decided</dt>
            <dd>{VERDICT_LABELS[item.decided.verdict]}</dd>
          </>
        )}
      </dl>
    </div>
  );
}
