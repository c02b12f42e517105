import { describe, expect, it } from 'vitest';
import { gatewaySettings } from '../../gateway/config.ts';
import { loadConfig } from '../../lib/config.ts';
import { orgSettings } from '../../subgraphs/org/config.ts';

const metricsListen = (settings: { metricsListen: typeof gatewaySettings.metricsListen }, flags: object, env: NodeJS.ProcessEnv = {}) =>
  loadConfig({ metricsListen: settings.metricsListen }, flags, env).metricsListen;

describe('--metrics-listen', () => {
  it('defaults to a loopback address on a port of each service’s own', () => {
    expect(metricsListen(gatewaySettings, {})).toEqual({ host: '127.0.0.1', port: 9400 });
    expect(metricsListen(orgSettings, {})).toEqual({ host: '127.0.0.1', port: 9401 });
  });

  it('takes host:port from the flag, else the environment, IPv6 in brackets', () => {
    expect(metricsListen(gatewaySettings, { metricsListen: '[::1]:9999' }, { TWINX_METRICS_LISTEN: '0.0.0.0:1' })).toEqual({ host: '::1', port: 9999 });
    expect(metricsListen(gatewaySettings, {}, { TWINX_METRICS_LISTEN: '10.0.0.7:9400' })).toEqual({ host: '10.0.0.7', port: 9400 });
  });

  it('refuses anything but host:port, naming the setting', () => {
    for (const value of ['9400', 'localhost', 'localhost:99999', 'a b:1', '::1:9400'])
      expect(() => metricsListen(gatewaySettings, { metricsListen: value })).toThrow(/--metrics-listen \/ TWINX_METRICS_LISTEN/);
  });
});
