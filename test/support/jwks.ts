import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { createServer } from 'node:http';
import { listen, sendJson } from '../../lib/http.ts';
import type { Disposers } from './services.ts';

/** Organizations' signing keys (kid `<org>-1`), their public halves served as JWKS over HTTP. */
export interface ServedKeys {
  keys: Record<string, { kid: string; privateKey: CryptoKey }>;
  /** `http://…/<org>/jwks.json`. */
  jwksUrl: (org: string) => string;
}

/** Makes an Ed25519 key per organization and serves their JWKS at `/<org>/jwks.json` on a free port. */
export async function serveOrgKeys(disposers: Disposers, orgs: readonly string[]): Promise<ServedKeys> {
  const keys: ServedKeys['keys'] = {};
  const jwks: Record<string, unknown> = {};
  for (const org of orgs) {
    const { publicKey, privateKey } = (await generateKeyPair('Ed25519')) as { publicKey: CryptoKey; privateKey: CryptoKey };
    keys[org] = { kid: `${org}-1`, privateKey };
    jwks[org] = { keys: [{ ...(await exportJWK(publicKey)), kid: `${org}-1`, alg: 'EdDSA', use: 'sig' }] };
  }
  const server = createServer((req, res) => {
    const org = /^\/(\w+)\/jwks\.json$/.exec(req.url ?? '')?.[1];
    sendJson(res, org && jwks[org] ? 200 : 404, org ? jwks[org] : {});
  });
  const base = new URL('/', await listen(server, 0, '127.0.0.1'));
  disposers.add(() => new Promise((resolve) => server.close(resolve)));
  return { keys, jwksUrl: (org) => new URL(`/${org}/jwks.json`, base).href };
}
