import { hkdfSync } from 'node:crypto';
import {
  calculateJwkThumbprint,
  compactDecrypt,
  CompactEncrypt,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { sendJson, type Route } from '../../../lib/http.ts';
import { TOKEN_ALGORITHM } from '../../../lib/tokens/tokens.ts';
import type { OrgDb } from '../db.ts';

/** The key secret protects private keys at rest; it comes from configuration, never the database. */
export const MIN_KEY_SECRET_LENGTH = 32;

/** The AES key that wraps one signing key: derived from the secret, bound to the key id. */
function wrappingKey(secret: string, kid: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, kid, 'twinx signing key', 32));
}

/** A signing key as operators see it; `kid` is the RFC 7638 thumbprint of its public half. */
export interface PublicKeyInfo {
  kid: string;
  createdAt: Date;
  retiredAt: Date | null;
  signing: boolean;
}

/**
 * Creates a signing key (Ed25519) and stores it, the private half encrypted under the key
 * secret. Being the newest, it signs every token from now on.
 */
export async function createSigningKey(db: OrgDb, keySecret: string): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(await exportJWK(privateKey))))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid })
    .encrypt(wrappingKey(keySecret, kid));
  await db.$transaction([
    db.signingKey.create({ data: { kid, alg: TOKEN_ALGORITHM, publicJwk: { ...publicJwk, kid, alg: TOKEN_ALGORITHM, use: 'sig' }, privateJwe } }),
    db.$executeRaw`SELECT pg_notify(${AUTH_CHANNEL}, 'keys')`,
  ]);
  return kid;
}

/** Retires a key: tokens it signed stop verifying on every replica as soon as it hears (NOTIFY). */
export async function retireKey(db: OrgDb, kid: string): Promise<boolean> {
  const [retired] = await db.$transaction([
    db.signingKey.updateMany({ where: { kid, retiredAt: null }, data: { retiredAt: new Date() } }),
    db.$executeRaw`SELECT pg_notify(${AUTH_CHANNEL}, 'keys')`,
  ]);
  return retired.count === 1;
}

/** Every key, newest first, with which one signs. */
export async function listKeys(db: OrgDb): Promise<PublicKeyInfo[]> {
  const keys = await db.signingKey.findMany({ orderBy: { createdAt: 'desc' }, select: { kid: true, createdAt: true, retiredAt: true } });
  const signer = keys.find((key) => key.retiredAt === null)?.kid;
  return keys.map((key) => ({ ...key, signing: key.kid === signer }));
}

/** Postgres NOTIFY channel on which key changes and revocations reach every replica. */
export const AUTH_CHANNEL = 'twinx_auth';

/**
 * The organization's keys as one process sees them: public keys for verification (cached,
 * reloaded when told of a change or asked for an unknown kid), the signing key on demand.
 */
export class KeyRing {
  private verifying = new Map<string, CryptoKey>();
  private published: JWK[] = [];
  private loaded = 0;
  private loading: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: OrgDb,
    private readonly keySecret: string,
  ) {
    if (keySecret.length < MIN_KEY_SECRET_LENGTH) throw new TypeError(`the key secret must be at least ${MIN_KEY_SECRET_LENGTH} characters`);
  }

  /**
   * Reads the keys that are not retired from the database. Reads run one after another and
   * each starts after it was asked for, so a change announced during a read is never missed.
   */
  reload(): Promise<void> {
    const read = this.loading
      .catch(() => undefined)
      .then(async () => {
        const rows = await this.db.signingKey.findMany({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' } });
        const verifying = new Map<string, CryptoKey>();
        for (const row of rows) verifying.set(row.kid, (await importJWK(row.publicJwk as JWK, TOKEN_ALGORITHM)) as CryptoKey);
        this.verifying = verifying;
        this.published = rows.map((row) => row.publicJwk as JWK);
        this.loaded = Date.now();
      });
    this.loading = read;
    return read;
  }

  /** For `jwtVerify`: the public key named by the token's `kid`. */
  readonly getKey: JWTVerifyGetKey = async (header) => {
    const kid = header.kid;
    if (typeof kid !== 'string') throw new errors.JWKSNoMatchingKey();
    // An unknown kid may be a key created by another replica a moment ago; asking the database
    // at most once a second keeps random kids from turning into a query each.
    if (!this.verifying.has(kid) && Date.now() - this.loaded > 1000) await this.reload();
    const key = this.verifying.get(kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };

  /** The JWKS published at `/.well-known/jwks.json`. */
  async jwks(): Promise<{ keys: JWK[] }> {
    if (this.loaded === 0) await this.reload();
    return { keys: this.published };
  }

  /** The newest key that is not retired, decrypted. */
  async signingKey(): Promise<{ kid: string; privateKey: CryptoKey }> {
    const row = await this.db.signingKey.findFirst({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' } });
    if (!row) throw new Error('the organization has no signing key: run `twinx org init`');
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await compactDecrypt(row.privateJwe, wrappingKey(this.keySecret, row.kid)));
    } catch {
      throw new Error('cannot decrypt the signing key: the key secret is not the one it was stored with');
    }
    return { kid: row.kid, privateKey: (await importJWK(JSON.parse(new TextDecoder().decode(plaintext)) as JWK, TOKEN_ALGORITHM)) as CryptoKey };
  }
}

/** `GET /.well-known/jwks.json`: the keys' public halves, for whoever verifies their tokens. */
export function jwksRoute(keys: KeyRing): Route {
  return async (_req, res) => sendJson(res, 200, await keys.jwks(), { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
}
