/** The signed-in annotator's own numbers (GET /api/v1/annotators/quality/me/): gold accuracy, speed, agreement,
 * and their decisions waiting for a second annotator. */
import { api } from "../api/client";
import { useLoad } from "../hooks";

const percent = (value: number | null | undefined) => (value == null ? "–" : `${Math.round(value * 100)}%`);

export function MyQuality() {
  const report = useLoad(() => api.annotators.mine(), []);
  const me = report.data?.annotators[0];
  if (!me || (me.decisions === 0 && me.gold.answered === 0)) return null;
  return (
    <section className="panel" aria-labelledby="my-quality-title" data-testid="my-quality">
      <h2 id="my-quality-title">Your review, last 30 days</h2>
      <p>
        {me.decisions} decisions · gold faces right: {percent(me.gold.accuracy)} of {me.gold.answered}
        {me.gold.low != null && ` (95% interval ${percent(me.gold.low)}–${percent(me.gold.high)})`} ·{" "}
        {me.decisions_per_hour ?? "–"} per hour · agreement with others {percent(me.agreement.rate)} of {me.agreement.pairs}
        {me.flagged && <strong className="error"> · below the team's threshold: slow down and look closely</strong>}
      </p>
      {me.held_decisions > 0 && (
        <p data-testid="my-held">
          {me.held_decisions} of your decisions wait for a second annotator before they count
          {me.flagged && report.data?.hold_flagged ? " (while you are below the threshold, every change you make does)" : ""}.
        </p>
      )}
    </section>
  );
}
