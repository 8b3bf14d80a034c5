/**
 * The tag review queue: proposed video tags, the least certain (closest to the threshold) first,
 * each with its best supporting frames. Keyboard first: ↓ ↑ move, Enter confirms, N rejects,
 * O opens the video; the keys come from the one table in shortcuts.ts.
 */
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { ApiError, api, type ReviewTag } from "../api/client";
import { FaceImage } from "../components/FaceThumb";
import { HelpOverlay } from "../components/ShortcutHelp";
import { num, pct } from "../components/format";
import { useDocumentTitle, useWindowKeyDown } from "../hooks";
import { SHORTCUTS, keyLabel, keysOf, matchShortcut, shortcutFor, type ShortcutAction } from "../shortcuts";
import { currentTag, initialTagQueue, tagQueueReducer, type TagVerdict } from "./tagQueue";

const PAGE_SIZE = 50;

function TagRow({ tag, current, busy, onSelect, onDecide }: { tag: ReviewTag; current: boolean; busy: boolean; onSelect: () => void; onDecide: (verdict: TagVerdict) => void }) {
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (current) ref.current?.scrollIntoView?.({ block: "nearest" });
  }, [current]);
  return (
    <li ref={ref} aria-current={current} data-testid="tag-row" data-tag={tag.id} onClick={onSelect}>
      <div>
        <Link to={`/identities/${tag.identity}`}>{tag.identity_name}</Link> in <Link to={`/videos/${tag.video}`}>{tag.video_name}</Link>{" "}
        <strong>{pct(tag.confidence, 1)}</strong>{" "}
        <span className="muted">
          (threshold {num(tag.threshold, 2)}, margin {num(tag.margin, 3)}, {tag.frame_count} frames, run {tag.run})
        </span>
      </div>
      <ul className="thumbs">
        {tag.evidence.map((evidence) => (
          <li key={`${evidence.frame}-${evidence.face}`} className="thumb" title={`frame ${evidence.frame_index} at ${num(evidence.timestamp, 1)} s`}>
            <FaceImage face={{ id: evidence.face, crop_url: evidence.crop_url }} size={72} alt={`${tag.identity_name}? frame ${evidence.frame_index} at ${num(evidence.timestamp, 1)} s`} />
            <span className="thumb-label">{pct(evidence.confidence, 0)}</span>
          </li>
        ))}
      </ul>
      {current && (
        <div className="filters">
          <button type="button" disabled={busy} onClick={() => onDecide("confirmed")} aria-keyshortcuts={keysOf("tagConfirm")}>
            Confirm <kbd>{keyLabel(shortcutFor("tagConfirm").keys[0])}</kbd>
          </button>
          <button type="button" className="secondary" disabled={busy} onClick={() => onDecide("rejected")} aria-keyshortcuts={keysOf("tagReject")}>
            Reject <kbd>{keyLabel(shortcutFor("tagReject").keys[0])}</kbd>
          </button>
          <Link to={`/videos/${tag.video}`}>Open the video</Link>
        </div>
      )}
    </li>
  );
}

export function TagReviewScreen() {
  useDocumentTitle("Tag review");
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const identity = params.get("identity");
  const video = params.get("video");
  const [state, dispatch] = useReducer(tagQueueReducer, initialTagQueue);
  const [count, setCount] = useState<number | null>(null);
  // The last answer (or error) of the tag list, with the request it answers.
  const [answered, setAnswered] = useState<{ request: string; error: string | null } | null>(null);
  const [help, setHelp] = useState(false);

  // What to show: this identity's and video's least-certain tags, asked for again once the loaded page
  // is worked through and the server had more (`count` is its total at the load).
  const decidedSinceLoad = state.decided.length - state.decidedAtLoad;
  const workedThrough = state.tags.length === 0 && count !== null && decidedSinceLoad > 0 && count > decidedSinceLoad;
  const request = JSON.stringify([identity, video, workedThrough ? state.decided.length : state.decidedAtLoad]);
  useEffect(() => {
    let live = true;
    api.tagging.review({ identity: identity ?? undefined, video: video ?? undefined, page_size: PAGE_SIZE }).then(
      (answer) => {
        if (!live) return;
        dispatch({ type: "loaded", tags: answer.results });
        setCount(answer.count);
        setAnswered({ request, error: null });
      },
      (error: unknown) => live && setAnswered({ request, error: error instanceof Error ? error.message : String(error) }),
    );
    return () => {
      live = false;
    };
  }, [identity, video, request]);
  const loading = answered?.request !== request;
  const loadError = answered?.error ?? null;

  const decide = useCallback(async (tag: ReviewTag, verdict: TagVerdict) => {
    dispatch({ type: "start", id: tag.id });
    try {
      if (verdict === "confirmed") await api.tagging.confirm(tag.id);
      else await api.tagging.reject(tag.id);
      dispatch({ type: "decided", id: tag.id, verdict });
    } catch (error) {
      const gone = error instanceof ApiError && (error.isConflict || error.isNotFound);
      dispatch({ type: "failed", id: tag.id, message: error instanceof Error ? error.message : String(error), gone });
    }
  }, [dispatch]);

  const run = (action: ShortcutAction) => {
    const tag = currentTag(state);
    switch (action) {
      case "help":
        setHelp((shown) => !shown);
        break;
      case "closeDialog":
        setHelp(false);
        break;
      case "tagNext":
        dispatch({ type: "move", by: 1 });
        break;
      case "tagPrevious":
        dispatch({ type: "move", by: -1 });
        break;
      case "tagConfirm":
        if (tag && state.pending === null) void decide(tag, "confirmed");
        break;
      case "tagReject":
        if (tag && state.pending === null) void decide(tag, "rejected");
        break;
      case "tagOpenVideo":
        if (tag) navigate(`/videos/${tag.video}`);
        break;
      default:
        break;
    }
  };
  useWindowKeyDown((event) => {
    const action = matchShortcut(event, ["tags", "global"]);
    if (!action) return;
    if (help && action !== "closeDialog" && action !== "help") return;
    event.preventDefault();
    run(action);
  });

  const last = state.decided[0];
  const remaining = count === null ? null : Math.max(0, count - decidedSinceLoad);
  return (
    <section aria-labelledby="tags-title">
      <h1 id="tags-title">Tag review</h1>
      <div className="filters">
        <span className="muted">
          {remaining !== null ? `${remaining} proposed tags, the least certain first` : ""}
          {identity && " · one identity"}
          {video && " · one video"}
        </span>
        {(identity || video) && <Link to="/tags">all tags</Link>}
        <span className="spacer" />
        <ul className="legend" aria-label="Keyboard shortcuts">
          {SHORTCUTS.filter((shortcut) => shortcut.scope === "tags" || shortcut.action === "help").map((shortcut) => (
            <li key={shortcut.action}>
              {shortcut.keys.map((key) => (
                <kbd key={key}>{keyLabel(key)}</kbd>
              ))}{" "}
              {shortcut.description.split(":")[0]}
            </li>
          ))}
        </ul>
      </div>
      <p role="status" className="status-line" data-testid="tag-status">
        {state.pending !== null
          ? "Saving…"
          : last
            ? `${last.tag.identity_name} ${last.verdict === "confirmed" ? "confirmed in" : "rejected from"} ${last.tag.video_name}.`
            : ""}
      </p>
      {state.error && (
        <p role="alert" className="error">
          {state.error}
        </p>
      )}
      {loadError && <p className="error">{loadError}</p>}
      {!loading && !loadError && state.tags.length === 0 && <p className="empty">No proposed tags to review.</p>}
      <ol className="tag-queue" aria-label="Proposed tags">
        {state.tags.map((tag, index) => (
          <TagRow
            key={tag.id}
            tag={tag}
            current={index === state.cursor}
            busy={state.pending !== null}
            onSelect={() => dispatch({ type: "select", id: tag.id })}
            onDecide={(verdict) => void decide(tag, verdict)}
          />
        ))}
      </ol>
      {help && <HelpOverlay onClose={() => setHelp(false)} />}
    </section>
  );
}
