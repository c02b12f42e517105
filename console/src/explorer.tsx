import { json } from '@codemirror/lang-json';
import { Compartment, Prec } from '@codemirror/state';
import { keymap, type EditorView } from '@codemirror/view';
import { graphql } from 'cm6-graphql';
import { basicSetup } from 'codemirror';
import { buildClientSchema, getIntrospectionQuery, Kind, parse, type GraphQLSchema, type IntrospectionQuery, type OperationDefinitionNode } from 'graphql';
import { useEffect, useRef, useState } from 'preact/hooks';
import { clientOf, NO_NETWORK, post, query } from './api.ts';
import { CodeEditor } from './explorer-editor.tsx';
import { SchemaDocs } from './explorer-docs.tsx';
import type { Session } from './session.ts';

const EXAMPLE = `# Run (Ctrl-Enter) sends the operation at the
# cursor with your sign-in's tokens: answers
# hold only what they allow. Ctrl-Space
# completes; Docs lists every type.

query Twins {
  twins(first: 50) {
    edges {
      node {
        id
        name
        kind
        org { slug name }
        state { status updatedAt }
      }
    }
  }
}

subscription TwinEvents {
  twinEvents(filter: { types: [STATE, ALERT] }) {
    cursor
    type
    at
    twinId
    state {
      status
      metrics { metric value unit at }
    }
  }
}
`;

/** A request as the explorer sends it, and keeps in its history with the name of the operation run. */
interface Request {
  query: string;
  variables: string;
  name: string;
}

const HISTORY_KEY = 'twinx.explorer.history';
const MAX_HISTORY = 20;
/** A subscription's newest events shown; older ones scroll away. */
const MAX_EVENTS = 50;

/** Operations run in this tab, newest first (no tokens), forgotten with the session on sign-out. */
function loadHistory(): Request[] {
  try {
    const stored: unknown = JSON.parse(sessionStorage.getItem(HISTORY_KEY) ?? '[]');
    return Array.isArray(stored)
      ? stored.filter((entry): entry is Request => ['query', 'variables', 'name'].every((key) => typeof entry?.[key] === 'string'))
      : [];
  } catch {
    return [];
  }
}

/** The operation the cursor is in, else the document's first; none when the text does not parse (the gateway then says why). */
function operationAt(text: string, cursor: number): OperationDefinitionNode | undefined {
  let operations: OperationDefinitionNode[];
  try {
    operations = parse(text).definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  } catch {
    return undefined;
  }
  return operations.find(({ loc }) => loc && loc.start <= cursor && cursor <= loc.end) ?? operations[0];
}

/** Variables as JSON text: an object, or nothing. */
function parseVariables(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const variables: unknown = JSON.parse(text);
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables))
    throw new Error('variables are a JSON object, such as { "id": "acme:press-1" }');
  return variables as Record<string, unknown>;
}

/** An answer as the gateway sent it: its JSON laid out, or its status and text when it is no JSON. */
async function answerText(response: Response): Promise<string> {
  const text = await response.text();
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return `${response.status} ${response.statusText}\n${text}`;
  }
}

/** Why a subscription ended, as graphql-ws reports it: the gateway's errors, the connection's close, or another failure. */
function subscriptionError(error: unknown): string {
  if (Array.isArray(error)) return JSON.stringify({ errors: error }, null, 2);
  if (error instanceof CloseEvent) return `The connection closed: ${error.code} ${error.reason}`;
  return error instanceof Error ? error.message : NO_NETWORK;
}

/** The GraphQL explorer: operations, variables, answers and live events, with the schema's docs and a history. */
export function Explorer({ session }: { session: Session }) {
  const operationView = useRef<EditorView | null>(null);
  const variablesView = useRef<EditorView | null>(null);
  const [schema, setSchema] = useState<GraphQLSchema | null>(null);
  const [schemaProblem, setSchemaProblem] = useState<string | null>(null);
  const [result, setResult] = useState('');
  const [status, setStatus] = useState('');
  const [listening, setListening] = useState(false);
  const [side, setSide] = useState<'docs' | 'history'>('docs');
  const [docsPath, setDocsPath] = useState<string[]>([]);
  const [history, setHistory] = useState(loadHistory);
  // Each run supersedes the last: a late answer to an earlier one is not shown.
  const runs = useRef(0);
  const unsubscribe = useRef<(() => void) | null>(null);

  const stop = () => {
    unsubscribe.current?.();
    unsubscribe.current = null;
    setListening(false);
    setStatus('');
  };
  useEffect(() => stop, []);

  useEffect(() => {
    let current = true;
    query<IntrospectionQuery>(session, getIntrospectionQuery()).then(
      ({ data }) => current && setSchema(buildClientSchema(data!)),
      (error: Error) => current && setSchemaProblem(`The schema could not be read, so nothing is completed or checked: ${error.message}`),
    );
    return () => {
      current = false;
    };
  }, [session]);
  // Completion, checking and hover docs follow the schema once it is read.
  const [language] = useState(() => new Compartment());
  const languageOf = (known: GraphQLSchema | undefined) => graphql(known, { onShowInDocs: showInDocs });
  useEffect(() => {
    if (schema) operationView.current?.dispatch({ effects: language.reconfigure(languageOf(schema)) });
  }, [schema]);

  const remember = (request: Request) => {
    const next = [request, ...history.filter((entry) => entry.query !== request.query || entry.variables !== request.variables)].slice(0, MAX_HISTORY);
    setHistory(next);
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(next));
  };

  const run = async () => {
    const operation = operationView.current!.state;
    const text = operation.doc.toString();
    const chosen = operationAt(text, operation.selection.main.head);
    const request = {
      query: text,
      variables: variablesView.current!.state.doc.toString(),
      name: chosen?.name?.value ?? (text.trim().split('\n')[0] || 'An empty operation'),
    };
    const run = ++runs.current;
    stop();
    let variables: Record<string, unknown>;
    try {
      variables = parseVariables(request.variables);
    } catch (error) {
      setResult(`The variables cannot be read: ${(error as Error).message}`);
      return;
    }
    remember(request);
    const payload = { query: request.query, variables, operationName: chosen?.name?.value };
    if (chosen?.operation === 'subscription') {
      const events: string[] = [];
      setResult('');
      setStatus('Listening for events…');
      setListening(true);
      // What graphql-ws reports once the subscription is stopped here (its completion) is no news.
      const live = () => unsubscribe.current === dispose;
      const dispose = clientOf(session).subscribe(payload, {
        next: (event) => {
          if (!live()) return;
          events.unshift(JSON.stringify(event, null, 2));
          events.length = Math.min(events.length, MAX_EVENTS);
          setResult(events.join('\n\n'));
          setStatus(
            `Listening: ${events.length === MAX_EVENTS ? `the newest ${MAX_EVENTS}` : events.length} event${events.length === 1 ? '' : 's'}, newest first`,
          );
        },
        error: (error) => {
          if (!live()) return;
          stop();
          setResult([subscriptionError(error), ...events].join('\n\n'));
          setStatus('The subscription ended.');
        },
        complete: () => {
          if (!live()) return;
          stop();
          setStatus('The network ended the subscription.');
        },
      });
      unsubscribe.current = dispose;
      return;
    }
    setStatus('Asking…');
    let answer: string;
    try {
      answer = await answerText(await post(session, payload));
    } catch (error) {
      answer = (error as Error).message;
    }
    if (run !== runs.current) return;
    setResult(answer);
    setStatus('');
  };
  // The editors' shortcut runs what the page would run now.
  const runNow = useRef(run);
  runNow.current = run;
  const [runKey] = useState(() =>
    Prec.highest(
      keymap.of([
        {
          key: 'Mod-Enter',
          run: () => {
            void runNow.current();
            return true;
          },
        },
      ]),
    ),
  );

  const load = (request: Pick<Request, 'query' | 'variables'>) => {
    for (const [view, doc] of [
      [operationView.current!, request.query],
      [variablesView.current!, request.variables],
    ] as const)
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
  };
  const showInDocs = (field?: string, type?: string, parentType?: string) => {
    const name = (parentType ?? type)?.replace(/[[\]!]/g, '');
    if (!name) return;
    setSide('docs');
    setDocsPath([name]);
  };

  return (
    <main class="page explorer">
      <div class="explorer-bar">
        <h1>GraphQL explorer</h1>
        <button type="button" data-testid="explorer-run" onClick={() => void run()} title="Runs the operation under the cursor (Ctrl-Enter)">
          Run
        </button>
        {listening && (
          <button
            type="button"
            data-testid="explorer-stop"
            onClick={() => {
              stop();
              setStatus('Stopped.');
            }}
          >
            Stop
          </button>
        )}
        <span class="hint" role="status" data-testid="explorer-status">
          {status}
        </span>
        <span class="explorer-tabs">
          <button type="button" aria-pressed={side === 'docs'} onClick={() => setSide('docs')}>
            Docs
          </button>
          <button type="button" aria-pressed={side === 'history'} onClick={() => setSide('history')}>
            History
          </button>
        </span>
      </div>
      <div class="explorer-panes">
        <section class="explorer-input">
          <CodeEditor
            label="Operation"
            testId="explorer-operation"
            doc={history[0]?.query ?? EXAMPLE}
            extensions={[runKey, basicSetup, language.of(languageOf(undefined))]}
            onView={(view) => (operationView.current = view)}
          />
          <h2 class="explorer-label">Variables</h2>
          <CodeEditor
            label="Variables"
            testId="explorer-variables"
            doc={history[0]?.variables ?? '{}'}
            extensions={[runKey, basicSetup, json()]}
            onView={(view) => (variablesView.current = view)}
          />
        </section>
        <pre class="explorer-result" data-testid="explorer-result" aria-label="Answer">
          {result}
        </pre>
        <aside class="explorer-side">
          {side === 'history' ? (
            <ol class="docs-list" data-testid="explorer-history">
              {history.length === 0 && <li class="hint">Operations you run are listed here.</li>}
              {history.map((entry, index) => (
                <li key={index}>
                  <button type="button" class="link" onClick={() => load(entry)}>
                    {entry.name}
                  </button>
                </li>
              ))}
            </ol>
          ) : schema ? (
            <SchemaDocs schema={schema} path={docsPath} onPath={setDocsPath} />
          ) : (
            <p class={schemaProblem ? 'error' : 'hint'} role={schemaProblem ? 'alert' : undefined}>
              {schemaProblem ?? 'Reading the schema…'}
            </p>
          )}
        </aside>
      </div>
    </main>
  );
}
