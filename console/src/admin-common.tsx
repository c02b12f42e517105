import { useEffect, useRef, useState } from 'preact/hooks';
import { fieldName } from '../../lib/graphql/names.ts';
import { query } from './api.ts';
import type { Session } from './session.ts';

/** An administrator of one organization: its slug and the root field its administration lives under. */
export interface Admin {
  session: Session;
  org: string;
  /** `globex`: the organization's root field in the network graph. */
  field: string;
}

export const adminOf = (session: Session, org: string): Admin => ({ session, org, field: fieldName(org) });

/**
 * Runs an operation on the organization's own fields (`text` selects them under `admin.field`)
 * and gives what is under it. Any problem throws, in plain words: administration acts on all of
 * an answer or none.
 */
export async function ask<T>(admin: Admin, text: string, variables: Record<string, unknown> = {}): Promise<T> {
  const answer = await query<Record<string, T>>(admin.session, text, variables);
  if (answer.problems.length > 0) throw new Error(answer.problems.join(' '));
  return answer.data![admin.field]!;
}

/** A page of a connection. */
export interface Connection<T> {
  edges: { node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/**
 * A list read a page at a time: the first page again whenever `deps` change, the next ones on
 * `more()`. Answers no longer wanted (the deps changed meanwhile) are dropped.
 */
export function usePages<T>(load: (after: string | null) => Promise<Connection<T>>, deps: unknown[]) {
  const [rows, setRows] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  const read = (after: string | null) => {
    const mine = ++generation.current;
    setError(null);
    // A list read anew (other filters) is not shown under them while it is read.
    if (after === null) setRows(null);
    load(after)
      .then((page) => {
        if (mine !== generation.current) return;
        const nodes = page.edges.map((edge) => edge.node);
        setRows((current) => (after === null ? nodes : [...(current ?? []), ...nodes]));
        setNext(page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null);
      })
      .catch((problem: Error) => {
        if (mine === generation.current) setError(problem.message);
      });
  };
  useEffect(() => read(null), deps);
  return { rows, error, more: next === null ? null : () => read(next), reload: () => read(null) };
}

export function Problem({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p class="error" role="alert" data-testid="error">
      {message}
    </p>
  );
}

/** A date and time as people read it here. */
export const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '');

/** `YYYY-MM-DD` of a day some days from now, for date inputs. */
export const daysFromNow = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

/** The end of a day given as `YYYY-MM-DD`, in the browser's time zone, as an ISO date-time. */
export const endOfDay = (day: string) => new Date(`${day}T23:59:59`).toISOString();

/** Words of a field separated by commas or white space. */
export const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** A token shown once: copied to the clipboard, or selected for copying where the clipboard is not allowed. */
export function IssuedToken({ token, what }: { token: string; what: string }) {
  const field = useRef<HTMLTextAreaElement>(null);
  const [copied, setCopied] = useState(false);
  const copy = () => {
    navigator.clipboard
      .writeText(token)
      .then(() => setCopied(true))
      .catch(() => field.current?.select());
  };
  return (
    <div class="issued" data-testid="issued-token">
      <p>
        <strong>Copy the {what} now: it is not kept and will not be shown again.</strong>
      </p>
      <textarea ref={field} readOnly rows={4} value={token} data-testid="issued-token-value" onFocus={(event) => event.currentTarget.select()} />
      <button type="button" data-testid="copy-token" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** A button asking for confirmation in place before it acts; `warning` says what acting does. */
export function ConfirmButton({ label, warning, onConfirm, testid }: { label: string; warning: string; onConfirm: () => void; testid: string }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" data-testid={testid} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm" role="alertdialog">
      {warning}{' '}
      <button
        type="button"
        class="danger"
        data-testid={`${testid}-confirm`}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        Yes, {label.toLowerCase()}
      </button>{' '}
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
