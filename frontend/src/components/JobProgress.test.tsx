import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setFetch } from "../api/client";
import { JobProgress } from "./JobProgress";

afterEach(() => {
  cleanup();
  setFetch(null);
});

const job = (state: string, progress: number, extra: Record<string, unknown> = {}) =>
  new Response(JSON.stringify({ id: 7, kind: "training.run", state, progress, message: `${Math.round(progress * 100)}% done`, error: "", cancel_requested: false, ...extra }));

describe("the job progress bar", () => {
  it("polls the job until it finishes, then stops and says so", async () => {
    const answers = [job("queued", 0), job("running", 0.4), job("succeeded", 1, { result: { run: 3 } })];
    const fetchJob = vi.fn(async () => answers.shift() ?? job("succeeded", 1));
    setFetch(fetchJob as unknown as typeof fetch);
    const onFinished = vi.fn();
    render(<JobProgress jobId={7} title="Retrain" onFinished={onFinished} interval={5} />);
    const bar = screen.getByRole("progressbar", { name: "Retrain progress" });
    await waitFor(() => expect(onFinished).toHaveBeenCalledOnce());
    expect(bar.getAttribute("aria-valuenow")).toBe("100");
    expect(screen.getByText("succeeded")).toBeTruthy();
    expect(onFinished.mock.calls[0][0]).toMatchObject({ id: 7, state: "succeeded" });
    const calls = fetchJob.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fetchJob.mock.calls.length).toBe(calls);
    expect(String((fetchJob.mock.calls[0] as unknown[])[0])).toBe("/api/v1/jobs/7/");
  });

  it("shows a failed job's error", async () => {
    setFetch(vi.fn(async () => job("failed", 0.3, { error: "ValueError: no VIP faces" })) as unknown as typeof fetch);
    render(<JobProgress jobId={7} title="Import" interval={5} />);
    expect((await screen.findByRole("alert")).textContent).toContain("no VIP faces");
  });
});
