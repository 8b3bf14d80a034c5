export function pct(value: unknown, digits = 1): string {
  return typeof value === "number" && Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : "–";
}

export function num(value: unknown, digits = 3): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

export const STATUS_LABELS: Record<string, string> = {
  unverified: "unverified",
  verified: "verified",
  not_a_face: "not a face",
  excluded: "excluded",
};

/** Queue titles start with the run they came from ("Run 3: ..."); where the run is shown apart, drop it. */
export function queueTitle(title: string): string {
  return title.replace(/^Run \d+:\s*/, "");
}

/** "1 identity", "2 identities": a count with its noun in the right number. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
