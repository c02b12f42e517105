import { calculateJwkThumbprint, errors, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import { MIN_KEY_SECRET_LENGTH, seal, unseal } from '../../../lib/sealed.ts';
import { TOKEN_ALGORITHM } from '../../../lib/tokens/tokens.ts';
import type { OrgStoreConfig } from '../config.ts';
import { withOrgDb, type OrgDb } from '../db.ts';
import type { Issuer } from '../grants/store.ts';
import { keyRetired } from '../events/outbox.ts';

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
  const privateJwe = await seal(JSON.stringify(await exportJWK(privateKey)), keySecret, kid);
  await db.$transaction([
    db.signingKey.create({ data: { kid, alg: TOKEN_ALGORITHM, publicJwk: { ...publicJwk, kid, alg: TOKEN_ALGORITHM, use: 'sig' }, privateJwe } }),
    db.$executeRaw`SELECT pg_notify(${AUTH_CHANNEL}, 'keys')`,
  ]);
  return kid;
}

/**
 * Retires a key: tokens it signed stop verifying on every replica as soon as it hears (NOTIFY),
 * and at every gateway and the directory once the announcement (outbox, NATS) reaches them.
 */
export async function retireKey(db: OrgDb, org: string, kid: string): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const retired = await tx.signingKey.updateMany({ where: { kid, retiredAt: null }, data: { retiredAt: new Date() } });
    if (retired.count === 0) return false;
    await tx.$executeRaw`SELECT pg_notify(${AUTH_CHANNEL}, 'keys')`;
    await keyRetired(tx, org, kid);
    return true;
  });
}

/**
 * Retires a key that no longer signs (see {@link retireKey}): the signing key cannot be retired,
 * or nothing would sign. Returns the key as it now is.
 */
export async function retireVerifyingKey(db: OrgDb, org: string, kid: string): Promise<PublicKeyInfo> {
  const key = (await listKeys(db)).find((candidate) => candidate.kid === kid);
  if (key?.signing) throw fail(ErrorCode.INVALID_INPUT, `${kid} is the signing key: rotate first.`, { argument: 'kid' });
  if (!key || key.retiredAt || !(await retireKey(db, org, kid))) throw fail(ErrorCode.NOT_FOUND, `No active key ${kid}.`, { argument: 'kid' });
  return (await listKeys(db)).find((retired) => retired.kid === kid)!;
}

/** Every key, newest first, with which one signs. */
export async function listKeys(db: OrgDb): Promise<PublicKeyInfo[]> {
  const keys = await db.signingKey.findMany({ orderBy: { createdAt: 'desc' }, select: { kid: true, createdAt: true, retiredAt: true } });
  const signer = keys.find((key) => key.retiredAt === null)?.kid;
  return keys.map((key) => ({ ...key, signing: key.kid === signer }));
}

/**
 * The organization's Postgres NOTIFY channel: key changes and revocations reach every replica on
 * it, and so does every event added to the outbox (`outbox`, sent by a trigger on the table).
 */
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
  /** Private keys, decrypted once per key rather than once per signature. */
  private readonly decrypted = new Map<string, Promise<CryptoKey>>();

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

  /**
   * Fails unless the key secret decrypts the signing key, so that a wrong secret is found when a
   * service or command starts rather than at the first token it signs.
   */
  async checkKeySecret(): Promise<void> {
    const row = await this.signingRow();
    if (!row) return;
    await this.decrypt(row).catch(() => {
      throw new Error(
        `the key secret (--key-secret / TWINX_KEY_SECRET) does not decrypt signing key ${row.kid}: it is not the secret the keys were stored with`,
      );
    });
  }

  /** Creates a signing key under this ring's key secret (checked first: a key sealed under a wrong one could never sign). */
  async rotate(): Promise<string> {
    await this.checkKeySecret();
    return createSigningKey(this.db, this.keySecret);
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

  /** The newest key that is not retired, decrypted; read through `client` within a transaction. */
  async signingKey(client: Pick<OrgDb, 'signingKey'> = this.db): Promise<{ kid: string; privateKey: CryptoKey }> {
    const row = await this.signingRow(client);
    if (!row) throw new Error('the organization has no signing key: run `twinx org init`');
    return { kid: row.kid, privateKey: await this.decrypt(row) };
  }

  /** One key, retired or not, decrypted: a retirement is announced with the key it retires (it can only close access). */
  async keyOf(kid: string, client: Pick<OrgDb, 'signingKey'> = this.db): Promise<{ kid: string; privateKey: CryptoKey }> {
    return { kid, privateKey: await this.decrypt(await client.signingKey.findUniqueOrThrow({ where: { kid }, select: { kid: true, privateJwe: true } })) };
  }

  private signingRow(client: Pick<OrgDb, 'signingKey'> = this.db) {
    return client.signingKey.findFirst({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' }, select: { kid: true, privateJwe: true } });
  }

  private decrypt(row: { kid: string; privateJwe: string }): Promise<CryptoKey> {
    let key = this.decrypted.get(row.kid);
    if (!key) {
      key = unseal(row.privateJwe, this.keySecret, row.kid).then((text) => importJWK(JSON.parse(text) as JWK, TOKEN_ALGORITHM) as Promise<CryptoKey>);
      // A failure (a wrong key secret) is not remembered: the next signature tries again.
      key.catch(() => this.decrypted.delete(row.kid));
      this.decrypted.set(row.kid, key);
    }
    return key;
  }
}

/** Runs a command that signs tokens or makes keys: the store and the organization's keys, the key secret checked first. */
export function withOrgStore<T>(config: OrgStoreConfig, run: (store: Issuer) => Promise<T>): Promise<T> {
  return withOrgDb(config, async (db) => {
    const keys = new KeyRing(db, config.keySecret);
    await keys.checkKeySecret();
    return run({ db, keys, org: config.org });
  });
}
