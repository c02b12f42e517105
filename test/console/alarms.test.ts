import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleSignIn, launchBrowser, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { PUMP_LIVES, pumpsOf } from '../support/fleet.ts';
import { Disposers, eventually } from '../support/services.ts';
import { subscriptionsServed } from '../support/subscriptions.ts';

/** Alarms in the console: the inbox across organizations and the twin page's analytics, on the demo's network. */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;
const { signInWith, signInAs } = consoleSignIn(
  () => browser,
  () => network.consoleUrl,
);
/** An ACME operator: may acknowledge, assign and comment ACME's alarms (alarms:write), as the engineer may not. */
let operatorToken: string;

const HOUR_MS = 3_600_000;
/** The pumps' runs start six days ago, on the hour: their failures fall within the twin page's last 7 days. */
const T0 = Math.floor((Date.now() - 6 * 24 * HOUR_MS) / HOUR_MS) * HOUR_MS;
const at = (hours: number) => new Date(T0 + hours * HOUR_MS).toISOString();

/** Opens a page whose live feeds must be open before the test makes events. */
async function withFeeds(open: () => Promise<ConsolePage>, feeds: number): Promise<ConsolePage> {
  const before = await subscriptionsServed(network.gateway.url);
  const tab = await open();
  await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBeGreaterThanOrEqual(before + feeds));
  return tab;
}

const alarmOf = (tab: ConsolePage, twinId: string, cause: string) =>
  tab.page.locator(`[data-testid=alarm][data-twin-id="${twinId}"]`).filter({ hasText: cause });

async function mutate(org: string, text: string) {
  const response = await network.net.orgs[org]!.request(text);
  expect(response.errors).toBeUndefined();
}

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  browser = await launchBrowser(disposers);
  operatorToken = await network.net.orgs.acme!.memberToken('operator', 'maria');
  // The CNC mill's temperature leaps out of its range after an hour of 25 to 35 °C: a range alarm, and an anomalous reading.
  await network.net.orgs.acme!.ingest([{ twinId: 'acme:cnc-1', metric: 'temperature', at: new Date().toISOString(), value: 80 }]);
  // ACME's pumps run to failure: a health model for pumps, and pump-4 running since a repair.
  const acme = network.net.orgs.acme!;
  const pumps = pumpsOf(acme, 'acme', T0);
  for (const [id, life] of PUMP_LIVES) {
    await pumps.create(id);
    await pumps.run(id, 0, life, 5 / life);
    await mutate('acme', `mutation { acme { recordFailure(twinId: "acme:${id}", at: "${at(life)}") { at } } }`);
  }
  await acme.healthTrained();
  await pumps.create('pump-4');
  await mutate('acme', `mutation { acme { recordFailure(twinId: "acme:pump-4", at: "${at(70)}", note: "bearing seized") { at } } }`);
  await mutate('acme', `mutation { acme { recordRepair(twinId: "acme:pump-4", at: "${at(80)}") { at } } }`);
  await pumps.run('pump-4', 80, 30, 0.1);
}, 180_000);
afterAll(() => disposers.dispose());

// Each test signs in and opens pages in a browser on a busy machine: room beyond the default 30 s.
describe('the alarms inbox', { timeout: 90_000 }, () => {
  it('shows a new alarm live, and an alarm acknowledged by one user changes in another user’s open inbox', async () => {
    const engineer = await withFeeds(() => signInAs('acme-engineer', '/alarms'), 1);
    await engineer.page.getByTestId('alarm-count').waitFor();
    // Out of range at ACME and at both suppliers: alarms of all three organizations, live.
    await network.publishReading('acme:cnc-1', 'vibration', 12);
    await network.publishReading('globex:mill-1', 'vibration', 9.5);
    await network.publishReading('initech:caster-1', 'temperature', 790);
    const cnc = alarmOf(engineer, 'acme:cnc-1', 'vibration out of its normal range');
    await cnc.waitFor();
    await alarmOf(engineer, 'globex:mill-1', 'vibration out of its normal range').waitFor();
    await alarmOf(engineer, 'initech:caster-1', 'temperature out of its normal range').waitFor();
    expect(await cnc.getAttribute('data-state')).toBe('ACTIVE_UNACKNOWLEDGED');
    await cnc.getByTestId('alarm-details').click();
    await expect.poll(() => cnc.getByTestId('alarm-explanation').textContent()).toMatch(/vibration read 12, beyond its limit of 7 \(normal range 0 … 7\)/);

    // The engineer (a viewer, its grants without alarms:write) may read alarms: no action is offered.
    expect(await engineer.page.locator('[data-testid=alarm-acknowledge], [data-testid=alarm-assign], [data-testid=alarm-comment]').count()).toBe(0);

    // An ACME operator acknowledges it in an inbox of her own.
    const operator = await signInWith(operatorToken, [], '/alarms');
    const seen = alarmOf(operator, 'acme:cnc-1', 'vibration out of its normal range');
    await seen.getByTestId('alarm-acknowledge').click();
    await seen.getByTestId('alarm-text').fill('coolant pump restarted');
    await seen.getByTestId('alarm-submit').click();
    await seen.and(operator.page.locator('[data-state=ACTIVE_ACKNOWLEDGED]')).waitFor();

    // The engineer's open inbox follows, its history too, without a reload.
    await cnc.and(engineer.page.locator('[data-state=ACTIVE_ACKNOWLEDGED]')).waitFor();
    expect(await cnc.getByTestId('alarm-state').textContent()).toBe('active, acknowledged');
    await cnc.getByTestId('alarm-history').filter({ hasText: 'acknowledged by member:maria: “coolant pump restarted”' }).waitFor();

    // Filters: only Globex's alarms.
    await engineer.page.getByTestId('filter-org').selectOption('globex');
    await expect
      .poll(() => engineer.page.locator('[data-testid=alarm]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-twin-id'))))
      .toEqual(['globex:mill-1']);
    await engineer.page.getByTestId('filter-org').selectOption('');
    await cnc.getByTestId('alarm-details').click();
    await cnc.getByTestId('alarm-history').waitFor();
    await engineer.page.setViewportSize({ width: 1280, height: 1000 });
    await engineer.screenshot('alarms');
  });
});

describe('the twin page', { timeout: 90_000 }, () => {
  it('assigns and comments an alarm, both in its history', async () => {
    // The temperature alarm raised as the tests started.
    const tab = await signInWith(operatorToken, [], '/twins/acme:cnc-1');
    const alarm = tab.page.getByTestId('twin-alarms').locator('[data-testid=alarm]').filter({ hasText: 'temperature out of its normal range' });
    await alarm.getByTestId('alarm-assign').click();
    await alarm.getByTestId('alarm-text').fill('maintenance crew B');
    await alarm.getByTestId('alarm-submit').click();
    await alarm.getByTestId('alarm-assignee').filter({ hasText: 'assigned to maintenance crew B' }).waitFor();
    await alarm.getByTestId('alarm-comment').click();
    await alarm.getByTestId('alarm-text').fill('spindle bearing ordered');
    await alarm.getByTestId('alarm-submit').click();
    await alarm.getByTestId('alarm-details').click();
    const history = alarm.getByTestId('alarm-history');
    await history.filter({ hasText: 'commented by member:maria: “spindle bearing ordered”' }).waitFor();
    expect(await history.locator('li').evaluateAll((entries) => entries.map((entry) => entry.getAttribute('data-action')))).toEqual([
      'RAISED',
      'ASSIGNED',
      'COMMENTED',
    ]);
    expect(await history.textContent()).toContain('assigned by member:maria: “maintenance crew B”');
  });

  it('draws the normal band and marks anomalous readings on a chart', async () => {
    const tab = await signInAs('acme-engineer', '/twins/acme:cnc-1');
    const band = tab.page.locator('[data-testid=chart][data-metric=temperature] ~ .range-note [data-testid=normal-band]');
    await band.waitFor();
    expect([await band.getAttribute('data-min'), await band.getAttribute('data-max')]).toEqual(['15', '45']);
    // The reading of 80 after an hour of 25 to 35 °C scored anomalous.
    const anomalies = tab.page.locator('[data-testid=chart][data-metric=temperature] ~ .range-note [data-testid=anomaly-count]');
    await expect.poll(async () => Number(await anomalies.getAttribute('data-count'))).toBeGreaterThanOrEqual(1);
    await tab.page.getByTestId('kpis').getByTestId('kpi-availability').waitFor();
    await tab.page.getByTestId('health').getByTestId('no-model').filter({ hasText: 'No health model for cnc-mill twins yet' }).waitFor();
    await tab.page.getByTestId('twin-alarms').locator('[data-testid=alarm]').first().waitFor();
    await tab.page.setViewportSize({ width: 1280, height: 1400 });
    await tab.screenshot('twin');
  });

  it('shows health, remaining useful life and KPIs over the range, zooming and panning the charts', async () => {
    const tab = await signInAs('acme-engineer', '/twins/acme:pump-4');
    await tab.page.getByTestId('range').selectOption({ label: 'Last 7 days' });
    const index = Number(await tab.page.getByTestId('health-index').textContent());
    expect(index).toBeGreaterThan(0);
    expect(index).toBeLessThan(1);
    expect(await tab.page.getByTestId('rul').textContent()).toMatch(/^Remaining useful life p50 [\d.]+ hours \([\d.]+–[\d.]+ hours, p10–p90\)$/);
    // Down from its failure to its repair, ten hours.
    await tab.page.getByTestId('kpi-failures').filter({ hasText: '1' }).waitFor();
    expect(await tab.page.getByTestId('kpi-mttr').textContent()).toBe('10 h');

    // A drag across the chart zooms all charts and the KPIs to the window; panning moves it, reset follows the clock again.
    const span = tab.page.getByTestId('span');
    const width = async () => Number(await span.getAttribute('data-to')) - Number(await span.getAttribute('data-from'));
    const chart = tab.page.locator('[data-testid=chart][data-metric=vibration] .u-over');
    const box = (await chart.boundingBox())!;
    await tab.page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await tab.page.mouse.down();
    await tab.page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await tab.page.mouse.up();
    await expect.poll(width).toBeLessThan(2 * 24 * HOUR_MS);
    const zoomed = { from: Number(await span.getAttribute('data-from')), width: await width() };
    await tab.page.getByTestId('pan-earlier').click();
    await expect.poll(async () => Number(await span.getAttribute('data-from'))).toBeCloseTo(zoomed.from - zoomed.width / 2, -3);
    await tab.page.getByTestId('zoom-reset').click();
    await expect.poll(width).toBe(7 * 24 * HOUR_MS);
  });

  it('says "not shared" for the analytics a partner’s grant leaves out, the rest of the page working', async () => {
    const grant = await network.net.orgs.globex!.grantToken({
      partner: 'acme',
      scopes: ['twins:read', 'telemetry:read', 'twins:subscribe'],
      selector: { kinds: ['mill'] },
    });
    const tab = await signInWith(network.engineerToken, [grant.token], '/twins/globex:mill-1');
    await tab.page.getByTestId('twin-name').filter({ hasText: 'Rolling mill 1' }).waitFor();
    await tab.page.locator('[data-testid=chart][data-metric=temperature]').waitFor();
    await tab.page.getByTestId('twin-alarms').getByTestId('not-shared').waitFor();
    await tab.page.getByTestId('health').getByText('Not shared with you.').waitFor();
    await tab.page.getByTestId('kpis').getByText('Not shared with you.').waitFor();
    await tab.page.locator('.range-note [data-testid=not-shared]').first().waitFor();
    await tab.page.getByTestId('twin-status').waitFor();
    expect(await tab.page.getByTestId('error').count()).toBe(0);

    // The inbox says once that Globex shares no alarms (the test network names organizations by their slugs).
    await tab.page.getByRole('link', { name: 'Alarms' }).click();
    await tab.page.getByTestId('org-not-shared').filter({ hasText: 'Globex Steel does not share its alarms with you.' }).waitFor();
    expect(await tab.page.getByTestId('org-not-shared').count()).toBe(1);
  });
});
