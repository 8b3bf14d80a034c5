/**
 * The review session behind the review screen: the source that leases pages of faces (created for
 * the work chosen, closed on leaving), the screen's state (reviewState's reducer), the verified faces
 * of each claim on a mixed page, every decision sent (one face, a selected range, a whole page),
 * skip and undo, and the keyboard: each shortcut's action and the grid's columns that arrows move by.
 */
import { useCallback, useEffect, useMemo, useReducer, useRef, useState, type RefObject } from "react";
import { useWindowKeyDown } from "../hooks";

import { ApiError, type Identity, type Queue } from "../api/client";
import { useSession } from "../session";
import { acceptsPageShortcuts, keysOf, matchShortcut, shortcutFor, type ShortcutAction } from "../shortcuts";
import { VERDICT_LABELS } from "./ReviewFaces";
import {
  claimGroups,
  initialReviewState,
  pendingVerdicts,
  reviewReducer,
  targetIndexes,
  undecidedIndexes,
  type IdentityRef,
  type ReviewFace,
  type ReviewItem,
  type Verdict,
} from "./reviewState";
import { IdentityFacesSource, QueueSource, mapLimit, type ReviewSource } from "./sources";

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Review the work chosen (a queue, else the identities in `order`), `pageSize` faces a page, once
 * the identities and queues have loaded; `gridRef` is the faces' element (keys act on it).
 */
export function useReviewSession({
  identities,
  queues,
  work,
  order,
  pageSize,
  gridRef,
}: {
  identities: Identity[] | undefined;
  queues: Queue[] | undefined;
  work: { queue: Queue | null };
  order: IdentityRef[];
  pageSize: number;
  gridRef: RefObject<HTMLDivElement | null>;
}) {
  const [state, dispatch] = useReducer(reviewReducer, initialReviewState);
  // Where pages come from and decisions go: an external resource (it leases items) that the effect below
  // creates and closes; not rendered, so a ref, read when an action runs.
  const sourceRef = useRef<ReviewSource | null>(null);
  // The verified faces of each claimed identity on a mixed page, with the claims they were read for.
  const [groupRefs, setGroupRefs] = useState<{ claimIds: number[]; refs: Map<number, ReviewFace[]> } | null>(null);
  const [retryNotice, setRetryNotice] = useState<string | null>(null);
  const { refresh: refreshMe } = useSession();
  const page = state.page;
  const item: ReviewItem | undefined = page?.items[state.cursor];

  useEffect(() => {
    if (!identities || !queues) return undefined;
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
  }, [identities, queues, work, order, pageSize]);

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
  }, [gridRef, page?.key, state.view]);

  useEffect(() => {
    gridRef.current?.querySelector<HTMLElement>('[aria-current="true"]')?.scrollIntoView?.({ block: "nearest" });
  }, [gridRef, state.cursor, page?.key]);

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
  useWindowKeyDown((event) => {
    const action = matchShortcut(event, ["review", "global"]);
    if (!action) return;
    if (state.dialog && action !== "closeDialog" && action !== "help") return;
    // Page shortcuts act on the grid; on a focused button or control the key does what the browser does.
    if (!state.dialog && shortcutFor(action).scope === "review" && !acceptsPageShortcuts(event.target, gridRef.current)) return;
    if (state.dialog === "relabel" && action === "help") return;
    event.preventDefault();
    run(action);
  });

  /** The suggestions the relabel dialog offers for a face. */
  const loadSuggestions = (entry: ReviewItem) => sourceRef.current?.suggestions(entry) ?? Promise.resolve(entry.suggestions);

  return { state, dispatch, page, item, groups, claimReferences, retryNotice, run, undo, decideTargets, loadSuggestions };
}
