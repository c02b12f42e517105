import { useEffect, useState } from 'preact/hooks';
import { ask, ConfirmButton, Problem, when, type Admin } from './admin-common.tsx';
import { memberOf } from './session.ts';

interface SigningKey {
  kid: string;
  createdAt: string;
  retiredAt: string | null;
  signing: boolean;
}

/** The organization's signing keys: rotated, and retired once nothing they signed should work. */
export function KeysTab({ admin }: { admin: Admin }) {
  const [keys, setKeys] = useState<SigningKey[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ownKid = memberOf(admin.session)?.kid;
  const read = () =>
    ask<{ signingKeys: SigningKey[] }>(admin, `query Keys { ${admin.field} { signingKeys { kid createdAt retiredAt signing } } }`)
      .then(({ signingKeys }) => setKeys(signingKeys))
      .catch((problem: Error) => setError(problem.message));
  useEffect(() => void read(), [admin]);
  const act = (text: string, variables: Record<string, unknown> = {}) => {
    setError(null);
    ask(admin, text, variables)
      .then(read)
      .catch((problem: Error) => setError(problem.message));
  };

  return (
    <section>
      <h2>Signing keys</h2>
      <p class="hint">
        The newest key signs new tokens; older keys keep verifying the tokens they signed until they are retired. Rotate to start signing with a new key, then
        retire the old one once its tokens have been replaced.
      </p>
      <button type="button" data-testid="rotate-key" onClick={() => act(`mutation Rotate { ${admin.field} { rotateSigningKey { kid } } }`)}>
        Rotate: sign with a new key
      </button>
      <Problem message={error} />
      {keys && (
        <table class="admin-table" data-testid="signing-keys">
          <thead>
            <tr>
              <th>Key id</th>
              <th>Created</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => {
              const state = key.retiredAt ? 'retired' : key.signing ? 'signing' : 'verifying';
              return (
                <tr key={key.kid} data-kid={key.kid} data-state={state}>
                  <td>
                    <code>{key.kid}</code>
                  </td>
                  <td>{when(key.createdAt)}</td>
                  <td>{key.retiredAt ? `retired ${when(key.retiredAt)}` : key.signing ? 'signs new tokens' : 'verifies older tokens'}</td>
                  <td>
                    {state === 'verifying' && (
                      <ConfirmButton
                        label="Retire"
                        testid="retire-key"
                        warning={`Every token this key signed (grants and member tokens) stops verifying at once, here and across the network.${
                          key.kid === ownKid ? ' Your own sign-in is one of them.' : ''
                        }`}
                        onConfirm={() => act(`mutation Retire($kid: ID!) { ${admin.field} { retireSigningKey(kid: $kid) { kid } } }`, { kid: key.kid })}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
