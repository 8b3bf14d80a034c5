/** Every identity with its face counts; the way into an identity's page or its review. */
import { Link, useSearchParams } from "react-router-dom";

import { api } from "../api/client";
import { Pager } from "../events/EventsScreen";
import { useDocumentTitle, useLoad } from "../hooks";
import { unverifiedCount } from "../review/sources";

export function IdentitiesScreen() {
  useDocumentTitle("Identities");
  const [params, setParams] = useSearchParams();
  const search = params.get("search") ?? "";
  const role = params.get("role") ?? "";
  const page = Number(params.get("page") ?? 1);
  const identities = useLoad(() => api.identities.list({ search, role, merged: false, page, page_size: 100 }), [search, role, page]);

  function update(key: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    if (key !== "page") next.delete("page");
    setParams(next, { replace: true });
  }

  return (
    <section aria-labelledby="identities-title">
      <h1 id="identities-title">Identities</h1>
      <div className="filters">
        <label className="inline">
          Search <input type="search" value={search} onChange={(event) => update("search", event.target.value)} placeholder="Name…" />
        </label>
        <label className="inline">
          Role{" "}
          <select value={role} onChange={(event) => update("role", event.target.value)}>
            <option value="">All</option>
            <option value="vip">VIPs</option>
            <option value="candidate">Candidates</option>
          </select>
        </label>
        <span className="muted">{identities.data ? `${identities.data.count} identities` : ""}</span>
      </div>
      {identities.error && <p className="error">{identities.error}</p>}
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Rank</th>
            <th scope="col">Chunk</th>
            <th scope="col" className="num">Faces</th>
            <th scope="col" className="num">Verified</th>
            <th scope="col" className="num">Unverified</th>
            <th scope="col" className="num">Train / val / test</th>
            <th scope="col">
              <span className="sr-only">Review</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(identities.data?.results ?? []).map((identity) => (
            <tr key={identity.id}>
              <td>
                <Link to={`/identities/${identity.id}`}>{identity.name}</Link>
              </td>
              <td>
                <span className={`badge role-${identity.role}`}>{identity.role}</span>
              </td>
              <td>{identity.popularity_rank ?? "–"}</td>
              <td>{identity.chunk ?? "–"}</td>
              <td className="num">{identity.face_count}</td>
              <td className="num">{identity.verified_count}</td>
              <td className="num">{unverifiedCount(identity)}</td>
              <td className="num">
                {identity.train_count} / {identity.val_count} / {identity.test_count}
              </td>
              <td>{unverifiedCount(identity) > 0 && <Link to={`/review?identity=${identity.id}`}>Review</Link>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager page={page} hasNext={Boolean(identities.data?.next)} onPage={(value) => update("page", String(value))} />
    </section>
  );
}
