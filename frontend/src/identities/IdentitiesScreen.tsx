/** Every identity with its face counts; the way into an identity's page or its review. */
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api } from "../api/client";
import { plural } from "../components/format";
import { useSession } from "../session";
import { Pager } from "../events/EventsScreen";
import { useDocumentTitle, useLoad, currentSearchParams } from "../hooks";
import { unverifiedCount } from "../review/sources";

export function IdentitiesScreen() {
  useDocumentTitle("Identities");
  const [params, setParams] = useSearchParams();
  const search = params.get("search") ?? "";
  const role = params.get("role") ?? "";
  const page = Number(params.get("page") ?? 1);
  const identities = useLoad(() => api.identities.list({ search, role, merged: false, page, page_size: 100 }), [search, role, page]);

  function update(key: string, value: string) {
    const next = currentSearchParams();
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
        <span className="muted">{identities.data ? plural(identities.data.count, "identity", "identities") : ""}</span>
      </div>
      <NewIdentity />
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

/** Add a person missing from the list: annotators add candidates, admins choose the role. */
function NewIdentity() {
  const { isAdmin } = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [role, setRole] = useState<"candidate" | "vip">("candidate");
  const [error, setError] = useState<string | null>(null);
  async function create(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const identity = await api.identities.create({ name: name.trim(), role });
      navigate(`/identities/${identity.id}`);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }
  return (
    <form className="filters" onSubmit={(event) => void create(event)} aria-label="New identity">
      <label className="inline">
        New identity <input value={name} maxLength={200} required onChange={(event) => setName(event.target.value)} placeholder="Full name" />
      </label>
      {isAdmin ? (
        <label className="inline">
          as{" "}
          <select value={role} onChange={(event) => setRole(event.target.value as "candidate" | "vip")}>
            <option value="candidate">candidate</option>
            <option value="vip">VIP</option>
          </select>
        </label>
      ) : (
        <span className="muted">added as a candidate (an admin makes it a VIP)</span>
      )}
      <button type="submit" disabled={!name.trim()}>
        Add
      </button>
      {error && <span className="error">{error}</span>}
    </form>
  );
}
