/** A run's state as what it is: queued (waiting for a worker), snapshotting (its task freezing every label), running with its progress, or finished. */
import { runStateText } from "../dashboard/metrics";

export function RunState({
  state,
  progress,
  message,
}: {
  state: string;
  progress?: number | null;
  message?: string | null;
}) {
  const { label, hint } = runStateText(state, progress, message);
  return (
    <span className={`badge state-${state}`} title={hint} data-state={state}>
      {label}
    </span>
  );
}
