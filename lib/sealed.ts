import { hkdfSync } from 'node:crypto';
import { compactDecrypt, CompactEncrypt } from 'jose';

/** The key secret protects private keys at rest; it comes from configuration, never the database. */
export const MIN_KEY_SECRET_LENGTH = 32;

/** The AES key that wraps one secret: derived from the key secret, bound to what it wraps (`label`). */
function wrappingKey(keySecret: string, label: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', keySecret, label, 'twinx signing key', 32));
}

/**
 * Encrypts a private key for storage: a JWE (dir, A256GCM) under a key derived from the key
 * secret and `label` (a key id, a public key), so that a sealed value cannot be swapped for
 * another one's.
 */
export function seal(plaintext: string, keySecret: string, label: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: label })
    .encrypt(wrappingKey(keySecret, label));
}

/** Decrypts what {@link seal} sealed; throws a clear error when the key secret is not the one it was sealed with. */
export async function unseal(jwe: string, keySecret: string, label: string): Promise<string> {
  try {
    return new TextDecoder().decode((await compactDecrypt(jwe, wrappingKey(keySecret, label))).plaintext);
  } catch {
    throw new Error('cannot decrypt a stored private key: the key secret is not the one it was stored with');
  }
}
