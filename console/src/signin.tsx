import { useEffect, useState } from 'preact/hooks';
import { sessionFromTokens, type Session } from './session.ts';

interface Persona {
  id: string;
  name: string;
  headers: Session['headers'];
}

/** The demo's people, when the gateway runs the demo (an empty list otherwise). */
async function personas(): Promise<Persona[]> {
  const response = await fetch('/console/personas.json').catch(() => null);
  if (!response?.ok) return [];
  const body = (await response.json().catch(() => null)) as { personas?: Persona[] } | null;
  return Array.isArray(body?.personas) ? body.personas : [];
}

export function SignIn({ onSignIn }: { onSignIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [grants, setGrants] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [people, setPeople] = useState<Persona[]>([]);
  useEffect(() => {
    void personas().then(setPeople);
  }, []);

  const submit = (event: Event) => {
    event.preventDefault();
    try {
      onSignIn(sessionFromTokens(token, grants));
    } catch (problem) {
      setError((problem as Error).message);
    }
  };

  return (
    <main class="page signin">
      <h1>Sign in to the twinx network</h1>
      {people.length > 0 && (
        <section>
          <h2>Demo network: sign in as</h2>
          <div class="personas">
            {people.map((persona) => (
              <button
                type="button"
                key={persona.id}
                data-testid={`persona-${persona.id}`}
                onClick={() => onSignIn({ name: persona.name, headers: persona.headers })}
              >
                {persona.name}
              </button>
            ))}
          </div>
        </section>
      )}
      <form onSubmit={submit}>
        <label>
          Member token
          <textarea data-testid="signin-token" rows={4} value={token} onInput={(event) => setToken(event.currentTarget.value)} required />
        </label>
        <label>
          Grant tokens (optional, separated by commas or new lines)
          <textarea data-testid="signin-grants" rows={4} value={grants} onInput={(event) => setGrants(event.currentTarget.value)} />
        </label>
        {error && (
          <p class="error" role="alert" data-testid="error">
            {error}
          </p>
        )}
        <button type="submit" data-testid="signin-submit">
          Sign in
        </button>
        <p class="hint">Your tokens stay in this browser tab and leave it only for the gateway.</p>
      </form>
    </main>
  );
}
