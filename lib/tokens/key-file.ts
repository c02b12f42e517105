import type { JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { importKey, type KeyStore, type KnownKey } from './network.ts';

const keyFileSchema = z.object({
  version: z.literal(1),
  orgs: z.record(
    z.string(),
    z.object({
      jwksUrl: z.string(),
      keys: z.array(z.object({ kid: z.string().min(1).max(128), jwk: z.object({ kid: z.string() }).passthrough(), retiredAt: z.number().nullable() })),
    }),
  ),
});

type KeyFileContent = z.infer<typeof keyFileSchema>;

/**
 * Members' public keys kept in a file between runs of a gateway, so that a gateway started
 * while an organization is down still verifies its tokens. Only what the gateway itself learned
 * goes in: keys read from each member's JWKS URL as the registry lists it (and retired keys from
 * its revocation list), each under that issuer and that URL, retirements included. A key kept
 * for an organization whose registered JWKS URL has changed since is not used. Written whole to
 * a temporary file that replaces the old one (a crash leaves the old file or the new one, never
 * half of one), readable by the gateway's user only.
 */
export class KeyFile implements KeyStore {
  private content: KeyFileContent = { version: 1, orgs: {} };
  private readonly loaded = new Map<string, { jwksUrl: string; keys: Map<string, KnownKey> }>();
  /** What organizations' keys are now, by organization, as last handed to `save`: written as they are when the write starts. */
  private readonly saved = new Map<string, { jwksUrl: string; keys: ReadonlyMap<string, KnownKey> }>();
  private writing: Promise<void> = Promise.resolve();
  /** Whether a write is waiting to start: changes made meanwhile go in it. */
  private due = false;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the file, if there is one. A file that cannot be read is logged and left to be replaced: keys are then learned again. */
  async open(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      this.content = keyFileSchema.parse(JSON.parse(text));
      for (const [org, { jwksUrl, keys }] of Object.entries(this.content.orgs)) {
        const known = new Map<string, KnownKey>();
        for (const { kid, jwk, retiredAt } of keys) known.set(kid, { jwk: jwk as JWK, key: await importKey(jwk as JWK), retiredAt: retiredAt ?? Infinity });
        this.loaded.set(org, { jwksUrl, keys: known });
      }
    } catch (error) {
      this.content = { version: 1, orgs: {} };
      this.loaded.clear();
      this.logger.warn({ err: error, path: this.path }, 'kept keys not readable, learning them again');
    }
  }

  load(org: string, jwksUrl: string): Map<string, KnownKey> {
    const kept = this.loaded.get(org);
    return kept?.jwksUrl === jwksUrl ? new Map(kept.keys) : new Map();
  }

  /** Keeps an organization's keys: changes in a row (a JWKS read retiring many) make one write, not one each. */
  save(org: string, jwksUrl: string, keys: ReadonlyMap<string, KnownKey>): void {
    this.saved.set(org, { jwksUrl, keys });
    if (this.due) return;
    this.due = true;
    this.writing = this.writing
      .then(() => {
        this.due = false;
        for (const [savedOrg, saved] of this.saved)
          this.content.orgs[savedOrg] = {
            jwksUrl: saved.jwksUrl,
            keys: [...saved.keys].map(([kid, { jwk, retiredAt }]) => ({ kid, jwk: { ...jwk, kid }, retiredAt: retiredAt === Infinity ? null : retiredAt })),
          };
        return writeWhole(this.path, JSON.stringify(this.content));
      })
      .catch((error: unknown) => this.logger.warn({ err: error, path: this.path }, 'keys not kept, will try at the next change'));
  }

  /** Waits for the writes under way. */
  flush(): Promise<void> {
    return this.writing;
  }
}

/** Writes `text` to a temporary file, flushed to disk, then puts it in place of `path` (rename is atomic). */
async function writeWhole(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomUUID()}.tmp`;
  const file = await open(temporary, 'w', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}
