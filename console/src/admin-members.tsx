import { useState } from 'preact/hooks';
import { ROLES, SCOPES } from '../../lib/tokens/scopes.ts';
import { ask, ConfirmButton, daysFromNow, endOfDay, IssuedToken, Problem, usePages, when, type Admin, type Connection } from './admin-common.tsx';

interface MemberToken {
  jti: string;
  subject: string;
  role: string | null;
  scopes: string[];
  issuedBy: string;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
  active: boolean;
}

const stateOf = (token: MemberToken) => (token.active ? 'active' : token.revokedAt ? 'revoked' : 'expired');

/** The organization's member tokens: listed, issued (shown once) and revoked. */
export function MembersTab({ admin }: { admin: Admin }) {
  const [problem, setProblem] = useState<string | null>(null);
  const [issued, setIssued] = useState<{ token: string; subject: string } | null>(null);
  const tokens = usePages(
    async (after) =>
      (
        await ask<{ memberTokens: Connection<MemberToken> }>(
          admin,
          `query Members($after: String) { ${admin.field} { memberTokens(first: 50, after: $after) { edges { node { jti subject role scopes issuedBy issuedAt expiresAt revokedAt active } } pageInfo { hasNextPage endCursor } } } }`,
          { after },
        )
      ).memberTokens,
    [admin],
  );
  const revoke = (jti: string) => {
    setProblem(null);
    ask(admin, `mutation RevokeMember($jti: ID!) { ${admin.field} { revokeMemberToken(jti: $jti) } }`, { jti })
      .then(tokens.reload)
      .catch((error: Error) => setProblem(error.message));
  };

  return (
    <section>
      {issued ? (
        <section class="panel" data-testid="issued-member">
          <h2>Token issued to {issued.subject}</h2>
          <IssuedToken token={issued.token} what="member token" />
          <button type="button" data-testid="issued-done" onClick={() => setIssued(null)}>
            Done
          </button>
        </section>
      ) : (
        <IssueMemberToken
          admin={admin}
          onIssued={(token) => {
            setIssued(token);
            tokens.reload();
          }}
        />
      )}
      <h2>Member tokens</h2>
      <Problem message={problem ?? tokens.error} />
      {tokens.rows?.length === 0 && <p>No member tokens.</p>}
      {tokens.rows && tokens.rows.length > 0 && (
        <table class="admin-table" data-testid="member-tokens">
          <thead>
            <tr>
              <th>Who</th>
              <th>Role or scopes</th>
              <th>Issued</th>
              <th>Expires</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.rows.map((token) => (
              <tr key={token.jti} data-jti={token.jti} data-subject={token.subject} data-state={stateOf(token)}>
                <td>{token.subject}</td>
                <td>{token.role ?? token.scopes.join(' ')}</td>
                <td>
                  {when(token.issuedAt)} by {token.issuedBy}
                </td>
                <td>{when(token.expiresAt)}</td>
                <td>{stateOf(token)}</td>
                <td>
                  {token.active && (
                    <ConfirmButton
                      label="Revoke"
                      testid="revoke-member"
                      warning={`${token.subject} can no longer sign in with this token.`}
                      onConfirm={() => revoke(token.jti)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tokens.more && (
        <button type="button" onClick={tokens.more}>
          More tokens
        </button>
      )}
    </section>
  );
}

const SCOPES_INSTEAD = 'scopes';

function IssueMemberToken({ admin, onIssued }: { admin: Admin; onIssued: (issued: { token: string; subject: string }) => void }) {
  const [subject, setSubject] = useState('');
  const [role, setRole] = useState<string>('viewer');
  const [scopes, setScopes] = useState<string[]>([]);
  const [expires, setExpires] = useState(daysFromNow(90));
  const [error, setError] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    setError(null);
    const grantsOf = role === SCOPES_INSTEAD ? { scopes } : { role };
    ask<{ issueMemberToken: { token: string; subject: string } }>(
      admin,
      `mutation IssueMember($input: MemberTokenInput!) { ${admin.field} { issueMemberToken(input: $input) { token subject } } }`,
      { input: { subject: subject.trim(), ...grantsOf, expiresAt: endOfDay(expires) } },
    )
      .then(({ issueMemberToken }) => {
        setSubject('');
        onIssued(issueMemberToken);
      })
      .catch((problem: Error) => setError(problem.message));
  };
  return (
    <form class="panel" data-testid="member-form" onSubmit={submit}>
      <h2>Issue a member token</h2>
      <label>
        For (a person or a service, e.g. alice or svc:dashboard)
        <input data-testid="member-subject" value={subject} onInput={(event) => setSubject(event.currentTarget.value)} required />
      </label>
      <label>
        Role
        <select data-testid="member-role" value={role} onChange={(event) => setRole(event.currentTarget.value)}>
          {Object.entries(ROLES).map(([name, granted]) => (
            <option key={name} value={name}>
              {name} ({granted.join(' ')})
            </option>
          ))}
          <option value={SCOPES_INSTEAD}>Chosen scopes…</option>
        </select>
      </label>
      {role === SCOPES_INSTEAD && (
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((scope) => (
            <label key={scope} class="check">
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={(event) => setScopes(event.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
              />
              {scope}
            </label>
          ))}
        </fieldset>
      )}
      <label>
        Expires at the end of
        <input data-testid="member-expires" type="date" value={expires} onInput={(event) => setExpires(event.currentTarget.value)} required />
      </label>
      <Problem message={error} />
      <button type="submit" data-testid="member-submit">
        Issue the token
      </button>
    </form>
  );
}
