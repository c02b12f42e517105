import type { ComponentType } from 'preact';
import { useMemo } from 'preact/hooks';
import { AuditTab } from './admin-audit.tsx';
import { adminOf, type Admin } from './admin-common.tsx';
import { GrantsTab } from './admin-grants.tsx';
import { KeysTab } from './admin-keys.tsx';
import { MembersTab } from './admin-members.tsx';
import { PartnerTab } from './admin-partner.tsx';
import { memberOf, type Session } from './session.ts';

/** The tabs of administration, at /admin/<tab>; what each needs of the member token. */
const TABS = [
  { path: 'grants', label: 'Grants', scope: 'grants:admin', Tab: GrantsTab },
  { path: 'members', label: 'Member tokens', scope: 'grants:admin', Tab: MembersTab },
  { path: 'keys', label: 'Signing keys', scope: 'grants:admin', Tab: KeysTab },
  { path: 'audit', label: 'Audit log', scope: 'audit:read', Tab: AuditTab },
  { path: 'see-as-partner', label: 'See as partner', scope: 'grants:admin', Tab: PartnerTab },
] as const satisfies readonly { path: string; label: string; scope: string; Tab: ComponentType<{ admin: Admin }> }[];

/** Access administration of the organization the member token is of: grants, member tokens, keys, audit log. */
export function AdminPage({ session, tab }: { session: Session; tab: string }) {
  const member = memberOf(session);
  const admin = useMemo(() => member && adminOf(session, member.org), [session, member?.org]);
  const current = TABS.find((candidate) => candidate.path === tab) ?? TABS[0];
  if (!member || !admin || !member.scopes.includes(current.scope))
    return (
      <main class="page">
        <h1>Administration</h1>
        <p data-testid="needs-admin">
          This needs an administrator of an organization: your tokens do not allow {current.label.toLowerCase()}. Ask your organization's administrator, or sign
          in with an administrator's member token.
        </p>
      </main>
    );
  const { Tab } = current;
  return (
    <main class="page admin">
      <h1>Administration of {member.org}</h1>
      <nav class="tabs" aria-label="Administration">
        {TABS.filter((candidate) => member.scopes.includes(candidate.scope)).map((candidate) => (
          <a
            key={candidate.path}
            href={`/admin/${candidate.path}`}
            aria-current={candidate === current ? 'page' : undefined}
            data-testid={`tab-${candidate.path}`}
          >
            {candidate.label}
          </a>
        ))}
      </nav>
      <Tab key={current.path} admin={admin} />
    </main>
  );
}
