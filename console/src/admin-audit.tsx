import { useState } from 'preact/hooks';
import { ask, Problem, usePages, when, type Admin, type Connection } from './admin-common.tsx';

interface AuditEvent {
  id: string;
  at: string;
  lastAt: string | null;
  count: number;
  partner: string;
  grantJtis: string[];
  action: string;
  operation: string | null;
  twinIds: string[];
  allowed: boolean;
  reason: string | null;
  source: string | null;
  claimsVerified: boolean;
}

interface Filters {
  partner: string;
  twinId: string;
  grantJti: string;
  from: string;
  to: string;
  allowed: string;
}

const NO_FILTERS: Filters = { partner: '', twinId: '', grantJti: '', from: '', to: '', allowed: '' };

/** The filter as the organization takes it: only what is given, times from the browser's time zone. */
function auditFilter(filters: Filters) {
  const time = (value: string) => (value ? new Date(value).toISOString() : null);
  return {
    partner: filters.partner.trim() || null,
    twinId: filters.twinId.trim() || null,
    grantJti: filters.grantJti.trim() || null,
    from: time(filters.from),
    to: time(filters.to),
    allowed: filters.allowed === '' ? null : filters.allowed === 'true',
  };
}

/** Partners' accesses to the organization's twins, newest first, filtered; older ones a page at a time. */
export function AuditTab({ admin }: { admin: Admin }) {
  const [draft, setDraft] = useState(NO_FILTERS);
  const [filters, setFilters] = useState(NO_FILTERS);
  const events = usePages(
    async (after) =>
      (
        await ask<{ auditEvents: Connection<AuditEvent> }>(
          admin,
          `query Audit($filter: AuditFilter, $after: String) { ${admin.field} { auditEvents(filter: $filter, first: 50, after: $after) {
            edges { node { id at lastAt count partner grantJtis action operation twinIds allowed reason source claimsVerified } }
            pageInfo { hasNextPage endCursor } } } }`,
          { filter: auditFilter(filters), after },
        )
      ).auditEvents,
    [admin, filters],
  );
  const input = (name: keyof Filters, label: string, time = false) => {
    const props = {
      'data-testid': `audit-${name}`,
      value: draft[name],
      onInput: (event: Event) => setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value }),
    };
    return (
      <label>
        {label}
        {time ? <input type="datetime-local" {...props} /> : <input type="search" {...props} />}
      </label>
    );
  };

  return (
    <section>
      <h2>Audit log</h2>
      <p class="hint">Every access of a partner to your twins: what it read or tried, allowed or refused, newest first.</p>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters(draft);
        }}
      >
        {input('partner', 'Partner')}
        {input('twinId', 'Twin id')}
        {input('grantJti', 'Grant id')}
        {input('from', 'From', true)}
        {input('to', 'To', true)}
        <label>
          Outcome
          <select data-testid="audit-allowed" value={draft.allowed} onChange={(event) => setDraft({ ...draft, allowed: event.currentTarget.value })}>
            <option value="">Allowed or refused</option>
            <option value="true">Allowed</option>
            <option value="false">Refused</option>
          </select>
        </label>
        <button type="submit" data-testid="audit-apply">
          Show
        </button>
      </form>
      <Problem message={events.error} />
      {events.rows?.length === 0 && <p data-testid="audit-empty">No accesses match.</p>}
      {events.rows && events.rows.length > 0 && (
        <table class="admin-table" data-testid="audit-events">
          <thead>
            <tr>
              <th>When</th>
              <th>Partner</th>
              <th>Action</th>
              <th>Twins</th>
              <th>Grants</th>
              <th>Outcome</th>
              <th>Seen by</th>
            </tr>
          </thead>
          <tbody>
            {events.rows.map((event) => (
              <tr key={event.id} data-partner={event.partner} data-allowed={String(event.allowed)} class={event.allowed ? '' : 'refused'}>
                <td>
                  {when(event.at)}
                  {event.count > 1 && ` to ${when(event.lastAt)} (${event.count} times)`}
                </td>
                <td>
                  {event.partner}
                  {!event.claimsVerified && <small> (claimed, unverified)</small>}
                </td>
                <td>
                  {event.action}
                  {event.operation && <small> {event.operation}</small>}
                </td>
                <td>{event.twinIds.join(', ')}</td>
                <td>
                  <code>{event.grantJtis.join(', ')}</code>
                </td>
                <td>{event.allowed ? 'allowed' : `refused: ${event.reason ?? ''}`}</td>
                <td>{event.source ?? 'this organization'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {events.more && (
        <button type="button" data-testid="audit-older" onClick={events.more}>
          Older
        </button>
      )}
    </section>
  );
}
