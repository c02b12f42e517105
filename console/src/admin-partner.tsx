import { useEffect, useState } from 'preact/hooks';
import { ask, Problem, type Admin } from './admin-common.tsx';
import { twinPath } from './router.ts';

interface Reached {
  twin: { id: string; name: string | null; kind: string | null };
  scopes: string[];
  grantJtis: string[];
}

/** Most twins listed at once. */
const SHOWN = 500;

/** What a partner sees of the organization now: the twins its active grants reach, with the scopes. */
export function PartnerTab({ admin }: { admin: Admin }) {
  const [partners, setPartners] = useState<string[] | null>(null);
  const [partner, setPartner] = useState('');
  const [view, setView] = useState<{ total: number; twins: Reached[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    ask<{ grants: { edges: { node: { partner: string } }[] } }>(
      admin,
      `query Partners { ${admin.field} { grants(filter: { active: true }, first: ${SHOWN}) { edges { node { partner } } } } }`,
    )
      .then(({ grants }) => setPartners([...new Set(grants.edges.map((edge) => edge.node.partner))].sort()))
      .catch((problem: Error) => setError(problem.message));
  }, [admin]);
  useEffect(() => {
    setView(null);
    if (!partner) return;
    let wanted = true;
    ask<{ partnerView: { total: number; edges: { node: Reached }[] } }>(
      admin,
      `query PartnerView($partner: String!) { ${admin.field} { partnerView(partner: $partner, first: ${SHOWN}) { total edges { node { twin { id name kind } scopes grantJtis } } } } }`,
      { partner },
    )
      .then(({ partnerView }) => wanted && setView({ total: partnerView.total, twins: partnerView.edges.map((edge) => edge.node) }))
      .catch((problem: Error) => wanted && setError(problem.message));
    return () => {
      wanted = false;
    };
  }, [admin, partner]);

  return (
    <section>
      <h2>See as a partner</h2>
      <p class="hint">
        The twins of {admin.org} a partner reaches now with all its active grants, as its own requests are checked. Only grants issued to it count: revoked and
        expired ones do not.
      </p>
      <Problem message={error} />
      {partners?.length === 0 && <p>No partner holds an active grant.</p>}
      {partners && partners.length > 0 && (
        <label>
          Partner
          <select data-testid="see-as-partner" value={partner} onChange={(event) => setPartner(event.currentTarget.value)}>
            <option value="">Choose a partner</option>
            {partners.map((slug) => (
              <option key={slug} value={slug}>
                {slug}
              </option>
            ))}
          </select>
        </label>
      )}
      {view && (
        <div data-testid="partner-view" data-partner={partner}>
          <p>
            {partner} sees {view.total === 1 ? '1 twin' : `${view.total} twins`}
            {view.total > view.twins.length && ` (the first ${view.twins.length} listed)`}.
          </p>
          <table class="admin-table">
            <thead>
              <tr>
                <th>Twin</th>
                <th>Kind</th>
                <th>Scopes</th>
                <th>Through grants</th>
              </tr>
            </thead>
            <tbody>
              {view.twins.map(({ twin, scopes, grantJtis }) => (
                <tr key={twin.id} data-twin-id={twin.id}>
                  <td>
                    <a href={twinPath(twin.id)}>{twin.name ?? twin.id}</a> <small>{twin.id}</small>
                  </td>
                  <td>{twin.kind}</td>
                  <td>{scopes.join(' ')}</td>
                  <td>
                    <code>{grantJtis.join(', ')}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
