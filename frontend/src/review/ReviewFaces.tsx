/**
 * How the review screen shows faces: a face's cell in the grid or strip (and what a click on it
 * does), the verdict said on a decided face, one claimed identity's group on a mixed page, the
 * verified faces panel, and the face under the cursor at full size. Presentational only.
 */
import type { Dispatch, ReactNode } from "react";

import { FaceImage } from "../components/FaceThumb";
import { pct } from "../components/format";
import type { ClaimGroup, ReviewAction, ReviewFace, ReviewItem, ReviewPage, Verdict, View } from "./reviewState";

/** Each verdict in words, as the screen says it on a face and in its status line. */
export const VERDICT_LABELS: Record<Verdict, string> = {
  confirm: "confirmed",
  wrong: "not this person",
  relabel: "relabelled",
  unknown: "unknown person",
  not_a_face: "not a face",
};

/** One face of the page; a click moves the cursor to it (Shift+click: selects the range to it). */
export function FaceCell({
  entry,
  index,
  view,
  current,
  selected,
  dispatch,
}: {
  entry: ReviewItem;
  index: number;
  view: View;
  current: boolean;
  selected: boolean;
  dispatch: Dispatch<ReviewAction>;
}) {
  return (
    <li
      role="option"
      aria-selected={selected}
      className={[
        "face-cell",
        current ? "cursor" : "",
        selected ? "selected" : "",
        entry.marked ? "marked" : "",
        entry.decided ? `decided verdict-${entry.decided.verdict}` : "",
      ].join(" ")}
      aria-current={current ? "true" : undefined}
      id={`face-cell-${entry.face.id}`}
      data-face={entry.face.id}
      data-marked={entry.marked ? "true" : "false"}
      data-verdict={entry.decided?.verdict ?? ""}
      title={[entry.claim?.name, entry.reason].filter(Boolean).join(": ") || undefined}
      onClick={(event) => {
        // Shift+click selects the range from the cursor (or the range's start) to this face.
        if (event.shiftKey) return dispatch({ type: "setCursor", index, extend: true });
        dispatch({ type: "setCursor", index });
        if (view === "grid" && !entry.decided) dispatch({ type: "toggleMark" });
      }}
    >
      <FaceImage face={entry.face} size={view === "grid" ? 88 : 48} />
      {entry.marked && !entry.decided && <span className="mark" aria-label="marked wrong">✕</span>}
      {entry.decided && <VerdictLabel decision={entry.decided} />}
    </li>
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

/** The panel beside the faces: the claimed identity's verified faces, or a word on a mixed page. */
export function ReferencesPanel({ page, item }: { page: ReviewPage; item: ReviewItem | undefined }) {
  const references = page.claim ? page.references : [];
  const referenceName = page.claim?.name ?? null;
  return (
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
  );
}

/** One claimed identity's faces on a mixed page, its name and verified faces beside them. */
export function ClaimGroupRow({ group, references, children }: { group: ClaimGroup; references: ReviewFace[] | undefined; children: ReactNode }) {
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

/** The face under the cursor at full size, one at a time, with what is known about it. */
export function SingleItem({ item, index, total }: { item: ReviewItem; index: number; total: number }) {
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
