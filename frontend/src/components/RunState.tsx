/** A run's state as what it is: queued (waiting for a worker), running with its progress, or finished. */
import { runStateText } from "../dashboard/metrics";

export function RunState({ state, progress }: { state: string; progress?: number | null }) {
  const { label, hint } = runStateText(state, progress);
  return (
    <span className={`badge state-${state}`} title={hint} data-state={state}>
      {label}
    </span>
  );
}
