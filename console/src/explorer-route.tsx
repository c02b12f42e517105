import { useEffect, useState } from 'preact/hooks';
import type { Explorer } from './explorer.tsx';
import type { Session } from './session.ts';

/**
 * `/explorer`: the GraphQL explorer, loaded the first time it is opened, in a chunk of its own
 * with its own budget (scripts/build-console.mjs), so that the rest of the console loads no faster
 * or slower for it.
 *
 * It is built on CodeMirror 6 with cm6-graphql (completion, checking and hover docs from the
 * gateway's schema) and the console's own graphql-ws client, not on GraphiQL: GraphiQL 5 runs on
 * React 19 and Monaco, whose web workers and injected `<style>` elements the console's policy
 * refuses, at several times the size; GraphiQL 3 and 4 sit on CodeMirror 5, kept in maintenance
 * only. CodeMirror 6 needs no React, is bundled whole (nothing from elsewhere at run time), and,
 * in shadow roots, styles itself within the policy (explorer-editor.tsx).
 */
export function ExplorerRoute({ session }: { session: Session }) {
  const [explorer, setExplorer] = useState<{ Explorer: typeof Explorer } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    import('./explorer.tsx').then(setExplorer, () => setProblem('The explorer could not be loaded: reload the page.'));
  }, []);
  if (problem)
    return (
      <main class="page">
        <p class="error" role="alert" data-testid="error">
          {problem}
        </p>
      </main>
    );
  return explorer ? (
    <explorer.Explorer session={session} />
  ) : (
    <main class="page">
      <p class="hint">Loading the explorer…</p>
    </main>
  );
}
