import { useEffect, useMemo, useState } from 'preact/hooks';
import { GRANTABLE_SCOPES } from '../../lib/tokens/scopes.ts';
import { ask, ConfirmButton, daysFromNow, endOfDay, IssuedToken, Problem, usePages, when, words, type Admin, type Connection } from './admin-common.tsx';
import { query } from './api.ts';
import { twinPath } from './router.ts';

interface Selector {
  ids: string[];
  idGlobs: string[];
  kinds: string[];
  tags: string[];
}

export interface Grant {
  jti: string;
  partner: string;
  scopes: string[];
  selector: Selector;
  note: string | null;
  issuedBy: string;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  active: boolean;
}

const GRANT_FIELDS = 'jti partner scopes selector { ids idGlobs kinds tags } note issuedBy issuedAt expiresAt revokedAt active';

/** Active, revoked or expired: what a grant is now. */
const stateOf = (grant: Grant) => (grant.active ? 'active' : grant.revokedAt ? 'revoked' : 'expired');

function describe(selector: Selector): string {
  const parts = [
    selector.ids.length > 0 && `ids ${selector.ids.join(', ')}`,
    selector.idGlobs.length > 0 && `ids like ${selector.idGlobs.join(', ')}`,
    selector.kinds.length > 0 && `kinds ${selector.kinds.join(', ')}`,
    selector.tags.length > 0 && `tagged ${selector.tags.join(', ')}`,
  ];
  return parts.filter(Boolean).join('; ');
}

/** Grants of the organization, newest first: filtered by partner and state, revoked in place. */
export function GrantsTab({ admin }: { admin: Admin }) {
  const [partner, setPartner] = useState('');
  const [active, setActive] = useState('');
  const [issuing, setIssuing] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const filter = { partner: partner.trim() || null, active: active === '' ? null : active === 'true' };
  const grants = usePages(
    async (after) =>
      (
        await ask<{ grants: Connection<Grant> }>(
          admin,
          `query Grants($filter: GrantFilter, $after: String) { ${admin.field} { grants(filter: $filter, first: 50, after: $after) { edges { node { ${GRANT_FIELDS} } } pageInfo { hasNextPage endCursor } } } }`,
          { filter, after },
        )
      ).grants,
    [admin, partner, active],
  );
  const revoke = (jti: string) => {
    setProblem(null);
    ask(admin, `mutation Revoke($jti: ID!) { ${admin.field} { revokeGrant(jti: $jti) { jti } } }`, { jti })
      .then(grants.reload)
      .catch((error: Error) => setProblem(error.message));
  };

  return (
    <section>
      {issuing ? (
        <IssueGrant
          admin={admin}
          onDone={() => {
            setIssuing(false);
            grants.reload();
          }}
        />
      ) : (
        <button type="button" data-testid="issue-grant" onClick={() => setIssuing(true)}>
          Issue a grant…
        </button>
      )}
      <h2>Grants</h2>
      <div class="filters">
        <label>
          Partner
          <input data-testid="grants-partner" type="search" value={partner} onInput={(event) => setPartner(event.currentTarget.value)} />
        </label>
        <label>
          State
          <select data-testid="grants-state" value={active} onChange={(event) => setActive(event.currentTarget.value)}>
            <option value="">All</option>
            <option value="true">Active</option>
            <option value="false">Revoked or expired</option>
          </select>
        </label>
      </div>
      <Problem message={problem ?? grants.error} />
      {grants.rows?.length === 0 && <p>No grants.</p>}
      {grants.rows && grants.rows.length > 0 && (
        <table class="admin-table" data-testid="grants">
          <thead>
            <tr>
              <th>Partner</th>
              <th>Twins</th>
              <th>Scopes</th>
              <th>Note</th>
              <th>Issued</th>
              <th>Expires</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {grants.rows.map((grant) => (
              <tr key={grant.jti} data-jti={grant.jti} data-state={stateOf(grant)}>
                <td>{grant.partner}</td>
                <td>{describe(grant.selector)}</td>
                <td>{grant.scopes.join(' ')}</td>
                <td>{grant.note}</td>
                <td>
                  {when(grant.issuedAt)} by {grant.issuedBy}
                </td>
                <td>{when(grant.expiresAt)}</td>
                <td>{stateOf(grant)}</td>
                <td>
                  {grant.active && (
                    <ConfirmButton
                      label="Revoke"
                      testid="revoke-grant"
                      warning={`${grant.partner} loses this access at once, live feeds included.`}
                      onConfirm={() => revoke(grant.jti)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {grants.more && (
        <button type="button" onClick={grants.more}>
          More grants
        </button>
      )}
    </section>
  );
}

interface PreviewTwin {
  id: string;
  name: string | null;
  kind: string | null;
}

const PREVIEW_SIZE = 100;

/** The twins a selector selects, read again a moment after the selector last changed. */
function Preview({ admin, selector }: { admin: Admin; selector: Selector }) {
  const [answer, setAnswer] = useState<{ total: number; twins: PreviewTwin[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const empty = selector.ids.length + selector.idGlobs.length + selector.kinds.length + selector.tags.length === 0;
  const key = JSON.stringify(selector);
  useEffect(() => {
    setAnswer(null);
    setError(null);
    if (empty) return;
    let wanted = true;
    const timer = setTimeout(() => {
      ask<{ twinsSelectedBy: { total: number; edges: { node: PreviewTwin }[] } }>(
        admin,
        `query Preview($selector: TwinSelectorInput!) { ${admin.field} { twinsSelectedBy(selector: $selector, first: ${PREVIEW_SIZE}) { total edges { node { id name kind } } } } }`,
        { selector },
      )
        .then(({ twinsSelectedBy: { total, edges } }) => wanted && setAnswer({ total, twins: edges.map((edge) => edge.node) }))
        .catch((problem: Error) => wanted && setError(problem.message));
    }, 300);
    return () => {
      wanted = false;
      clearTimeout(timer);
    };
  }, [admin, key]);

  if (empty) return <p class="hint">Name at least one id, id pattern, kind or tag to see the twins it selects.</p>;
  if (error) return <Problem message={error} />;
  if (!answer) return <p aria-live="polite">Finding the twins…</p>;
  return (
    <div data-testid="grant-preview" data-total={answer.total}>
      <p aria-live="polite">
        {answer.total === 1 ? 'This grant selects 1 twin' : `This grant selects ${answer.total} twins`}
        {answer.total > answer.twins.length && ` (the first ${answer.twins.length} listed)`}.
      </p>
      <ul class="twin-list">
        {answer.twins.map((twin) => (
          <li key={twin.id} data-twin-id={twin.id}>
            <a href={twinPath(twin.id)}>{twin.name ?? twin.id}</a> <small>{twin.kind}</small>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Issuing a grant: partner, selector with a live preview, scopes, expiry and note; then its token, once. */
function IssueGrant({ admin, onDone }: { admin: Admin; onDone: () => void }) {
  const [partner, setPartner] = useState('');
  const [fields, setFields] = useState({ ids: '', idGlobs: '', kinds: '', tags: '' });
  const [scopes, setScopes] = useState<string[]>(['twins:read', 'twins:subscribe']);
  const [expires, setExpires] = useState(daysFromNow(90));
  const [note, setNote] = useState('');
  const [partners, setPartners] = useState<{ slug: string; name: string }[]>([]);
  const [issued, setIssued] = useState<{ token: string; grant: Grant } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const selector = useMemo(() => ({ ids: words(fields.ids), idGlobs: words(fields.idGlobs), kinds: words(fields.kinds), tags: words(fields.tags) }), [fields]);
  useEffect(() => {
    query<{ organizations: { slug: string; name: string }[] }>(admin.session, 'query Organizations { organizations { slug name } }')
      .then(({ data }) => setPartners(data!.organizations.filter((org) => org.slug !== admin.org)))
      .catch(() => setPartners([]));
  }, [admin]);

  if (issued)
    return (
      <section class="panel" data-testid="issued-grant">
        <h2>Grant issued to {issued.grant.partner}</h2>
        <IssuedToken token={issued.token} what="grant token" />
        <p class="hint">Hand it to {issued.grant.partner} over a channel you trust. You can revoke the grant from the list at any time.</p>
        <button type="button" data-testid="issued-done" onClick={onDone}>
          Done
        </button>
      </section>
    );

  const field = (name: keyof typeof fields, label: string, hint: string) => (
    <label>
      {label}
      <input
        data-testid={`selector-${name}`}
        value={fields[name]}
        placeholder={hint}
        onInput={(event) => setFields({ ...fields, [name]: event.currentTarget.value })}
      />
    </label>
  );
  const submit = (event: Event) => {
    event.preventDefault();
    setError(null);
    ask<{ issueGrant: { token: string; grant: Grant } }>(
      admin,
      `mutation Issue($input: GrantInput!) { ${admin.field} { issueGrant(input: $input) { token grant { ${GRANT_FIELDS} } } } }`,
      { input: { partner: partner.trim(), scopes, selector, expiresAt: endOfDay(expires), note: note.trim() || null } },
    )
      .then(({ issueGrant }) => setIssued(issueGrant))
      .catch((problem: Error) => setError(problem.message));
  };

  return (
    <form class="panel" data-testid="grant-form" onSubmit={submit}>
      <h2>Issue a grant</h2>
      <label>
        Partner organization
        <input data-testid="grant-partner" list="partners" value={partner} onInput={(event) => setPartner(event.currentTarget.value)} required />
        <datalist id="partners">
          {partners.map((org) => (
            <option key={org.slug} value={org.slug}>
              {org.name}
            </option>
          ))}
        </datalist>
      </label>
      <fieldset>
        <legend>Twins: every field given must match; values within a field are alternatives (separate them with commas).</legend>
        {field('ids', 'Twin ids', `${admin.org}:press-1`)}
        {field('idGlobs', 'Id patterns', `${admin.org}:press-*`)}
        {field('kinds', 'Kinds', 'press')}
        {field('tags', 'Tags', 'line-1')}
      </fieldset>
      <Preview admin={admin} selector={selector} />
      <fieldset>
        <legend>Scopes</legend>
        {GRANTABLE_SCOPES.map((scope) => (
          <label key={scope} class="check">
            <input
              type="checkbox"
              data-testid={`scope-${scope}`}
              checked={scopes.includes(scope)}
              onChange={(event) => setScopes(event.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
            />
            {scope}
          </label>
        ))}
      </fieldset>
      <label>
        Expires at the end of
        <input data-testid="grant-expires" type="date" value={expires} onInput={(event) => setExpires(event.currentTarget.value)} required />
      </label>
      <label>
        Note
        <input data-testid="grant-note" value={note} maxLength={500} onInput={(event) => setNote(event.currentTarget.value)} />
      </label>
      <Problem message={error} />
      <div class="actions">
        <button type="submit" data-testid="grant-submit">
          Issue the grant
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
