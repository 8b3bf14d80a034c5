import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, api, buildUrl, errorMessage, getOptional, readCookie, request, setFetch } from "./client";

function answer(status: number, body: unknown, statusText = "") {
  return new Response(body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body), { status, statusText });
}

function fakeFetch(...responses: Response[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const impl = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return responses.shift() ?? answer(200, {});
  });
  setFetch(impl as unknown as typeof fetch);
  return calls;
}

afterEach(() => {
  setFetch(null);
  document.cookie = "csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

describe("the API client", () => {
  it("sends the csrftoken cookie as X-CSRFToken on writes, with a JSON body", async () => {
    document.cookie = "csrftoken=abc123";
    const calls = fakeFetch(answer(200, { face: { id: 7 }, event: { id: 9 } }));
    await api.faces.label(7, { status: "verified", expected_version: 3 });
    expect(calls[0].url).toBe("/api/v1/faces/7/label/");
    expect(calls[0].init.method).toBe("POST");
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers["X-CSRFToken"]).toBe("abc123");
    expect(headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ status: "verified", expected_version: 3 });
    expect(calls[0].init.credentials).toBe("same-origin");
  });

  it("sends no CSRF header on reads", async () => {
    document.cookie = "csrftoken=abc123";
    const calls = fakeFetch(answer(200, { count: 0, results: [] }));
    await api.faces.list({ identity: 4, status: "unverified" });
    expect(calls[0].url).toBe("/api/v1/faces/?identity=4&status=unverified");
    expect((calls[0].init.headers as Record<string, string>)["X-CSRFToken"]).toBeUndefined();
  });

  it("turns a 409 into an ApiError that says it is a conflict, with the server's message", async () => {
    fakeFetch(answer(409, { detail: "Face 7 changed since it was shown (version 3, now 4); reload it and decide again.", code: "stale", face: 7, version: 4 }));
    const error = await api.faces.label(7, { status: "verified", expected_version: 3 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    const apiError = error as ApiError;
    expect(apiError.isConflict).toBe(true);
    expect(apiError.status).toBe(409);
    expect(apiError.code).toBe("stale");
    expect(apiError.message).toMatch(/changed since it was shown/);
    expect((apiError.body as { version: number }).version).toBe(4);
  });

  it("reports field errors and server error pages readably", async () => {
    expect(errorMessage({ password: ["Ensure this field has at least 8 characters."] }, "x")).toBe("password: Ensure this field has at least 8 characters.");
    expect(errorMessage({ non_field_errors: ["Send an identity."] }, "x")).toBe("Send an identity.");
    fakeFetch(answer(500, "<html><body>Server Error</body></html>", "Internal Server Error"));
    const error = (await request("GET", "me/").catch((caught: unknown) => caught)) as ApiError;
    expect(error.message).toBe("500 Internal Server Error");
  });

  it("recognises a lost session", () => {
    expect(new ApiError(403, { detail: "Authentication credentials were not provided." }, "").isUnauthenticated).toBe(true);
    expect(new ApiError(403, { detail: "Only admins may do this." }, "").isUnauthenticated).toBe(false);
  });

  it("answers null for endpoints this server does not have yet", async () => {
    fakeFetch(answer(404, { detail: "Not found." }));
    expect(await getOptional("runs/")).toBeNull();
    fakeFetch(answer(403, { detail: "Only admins may do this." }));
    await expect(getOptional("runs/")).rejects.toBeInstanceOf(ApiError);
  });

  it("builds query strings without empty values", () => {
    expect(buildUrl("faces/", { identity: 3, status: "", split: undefined, source: null, ids: [1, 2] })).toBe("/api/v1/faces/?identity=3&ids=1&ids=2");
    expect(buildUrl("/api/v1/faces/?page=2", { page_size: 10 })).toBe("/api/v1/faces/?page=2&page_size=10");
  });

  it("reads one cookie among several", () => {
    expect(readCookie("csrftoken", "sessionid=x; csrftoken=t%3Dk; other=1")).toBe("t=k");
    expect(readCookie("missing", "a=1")).toBe("");
  });
});

describe("a decision post on a retryable error", () => {
  const unavailable = () => answer(503, { detail: "The database is unavailable for a moment; the request did not complete. Retry it.", code: "unavailable", retryable: true });
  const saved = { operation: "0b0e6f5e-0000-4000-8000-000000000001", decisions: [], label_events: [41] };
  const noWait = async () => {};

  it("is sent again, and each retry is announced", async () => {
    const calls = fakeFetch(unavailable(), answer(201, saved));
    const notices: string[] = [];
    const result = await api.review.decide([{ item: 5, action: "confirm" }], {
      sleep: noWait,
      onRetry: (attempt, attempts, error) => notices.push(`${attempt}/${attempts}: ${error.message}`),
    });
    expect(result.label_events).toEqual([41]);
    expect(calls).toHaveLength(2);
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ decisions: [{ item: 5, action: "confirm" }] });
    expect(notices).toEqual(["1/3: The database is unavailable for a moment; the request did not complete. Retry it."]);
  });

  it("gives up after three tries with the server's message", async () => {
    const calls = fakeFetch(unavailable(), unavailable(), unavailable(), answer(201, saved));
    const error = await api.review.decide([{ item: 5, action: "confirm" }], { sleep: noWait }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).isRetryable).toBe(true);
    expect(calls).toHaveLength(3);
  });

  it("is not sent again after a refusal that is not retryable (409)", async () => {
    const calls = fakeFetch(answer(409, { detail: "Item 5 was decided already.", code: "conflict" }), answer(201, saved));
    await expect(api.review.decide([{ item: 5, action: "confirm" }], { sleep: noWait })).rejects.toBeInstanceOf(ApiError);
    expect(calls).toHaveLength(1);
  });
});
