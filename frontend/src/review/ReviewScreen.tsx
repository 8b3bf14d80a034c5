/**
 * The annotators' review screen: a page of faces claimed to be one identity (or one at a time),
 * that identity's verified faces beside them, and every decision on the keyboard. A page of mixed
 * claims shows one group per claimed identity, each beside that identity's verified faces. A range
 * of faces (Shift+click, Shift+arrows) takes a key's decision all at once.
 *
 * This module owns the screen's layout and reads the address bar (what to review, the page size);
 * the session (pages, decisions, undo, keys) is useReviewSession's, the pieces ReviewControls' and
 * ReviewFaces', what to review reviewWork's.
 */
import { useMemo, useRef } from "react";
import { useSearchParams } from "react-router-dom";

import { api, type Queue } from "../api/client";
import { HelpOverlay, ShortcutLegend } from "../components/ShortcutHelp";
import { useDocumentTitle, useLoad } from "../hooks";
import { keysOf } from "../shortcuts";
import { RelabelDialog } from "./RelabelDialog";
import { ReviewHeader, ReviewToolbar } from "./ReviewControls";
import { ClaimGroupRow, FaceCell, ReferencesPanel, SingleItem } from "./ReviewFaces";
import { selectedIndexes, targetIndexes, undecidedIndexes, type ReviewItem } from "./reviewState";
import { chooseWork, clampPageSize, reviewOrder } from "./reviewWork";
import { useReviewSession } from "./useReviewSession";

export function ReviewScreen() {
  const [params, setParams] = useSearchParams();
  const wantsFaces = params.has("identity");
  const identityParam = params.get("identity") && params.get("identity") !== "all" ? Number(params.get("identity")) : null;
  const queueParam = params.get("queue") ? Number(params.get("queue")) : null;
  const pageSize = clampPageSize(params.get("size"));
  const identities = useLoad(() => api.identities.all(), []);
  const queues = useLoad(() => api.review.queues().then((answer) => answer.results).catch(() => [] as Queue[]), []);
  const gridRef = useRef<HTMLDivElement>(null);

  const order = useMemo(() => reviewOrder(identities.data ?? [], identityParam), [identities.data, identityParam]);
  const work = useMemo(() => chooseWork(queues.data ?? [], queueParam, wantsFaces), [queues.data, queueParam, wantsFaces]);

  const { state, dispatch, page, item, groups, claimReferences, retryNotice, run, undo, decideTargets, loadSuggestions } = useReviewSession({
    identities: identities.data,
    queues: queues.data,
    work,
    order,
    pageSize,
    gridRef,
  });
  useDocumentTitle(page ? `Review ${page.title}` : "Review");
  const selected = new Set(selectedIndexes(state));

  const renderCell = (entry: ReviewItem, index: number) => (
    <FaceCell key={entry.key} entry={entry} index={index} view={state.view} current={index === state.cursor} selected={selected.has(index)} dispatch={dispatch} />
  );

  const marked = page?.items.filter((entry) => entry.marked && !entry.decided).length ?? 0;
  const open = undecidedIndexes(page).length;

  return (
    <section className="review" aria-labelledby="review-title">
      <ReviewHeader
        title={page?.title}
        queues={queues.data ?? []}
        identities={identities.data ?? []}
        queue={work.queue}
        identityParam={identityParam}
        pageSize={pageSize}
        onNavigate={(next) => {
          setParams(next);
          gridRef.current?.focus(); // arrows move between faces again, not between queues
        }}
        onToggleHelp={() => dispatch({ type: "toggleHelp" })}
      />

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
          <ReferencesPanel page={page} item={item} />

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
            <ReviewToolbar view={state.view} saving={state.saving} run={run} onFocusFaces={() => gridRef.current?.focus()} />
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
          loadSuggestions={loadSuggestions}
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
