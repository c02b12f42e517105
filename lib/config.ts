import { z } from 'zod';
import { isStoreLocation } from './db/location.ts';
import { isValidSlug } from './ids.ts';

/** One configuration value: a command-line flag with an environment variable as fallback. */
export interface Setting<T extends z.ZodType> {
  flag: string;
  env: string;
  schema: T;
}

export type Settings = Record<string, Setting<z.ZodType>>;
export type ConfigOf<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> };

/**
 * Reads a service's configuration: explicit flags win, environment variables are the
 * fallback, and every value is validated. Fails fast with one message naming each flag and
 * variable that is missing or malformed.
 */
export function loadConfig<S extends Settings>(settings: S, flags: object, env: NodeJS.ProcessEnv): ConfigOf<S> {
  const config: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, setting] of Object.entries(settings)) {
    const raw = (flags as Record<string, unknown>)[key] ?? (env[setting.env] === '' ? undefined : env[setting.env]);
    const result = setting.schema.safeParse(raw);
    if (result.success) config[key] = result.data;
    else problems.push(`--${setting.flag} / ${setting.env}: ${raw === undefined ? 'required' : result.error.issues[0]!.message}`);
  }
  if (problems.length === 1) throw new TypeError(`invalid configuration: ${problems[0]}`);
  if (problems.length > 1) throw new TypeError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config as ConfigOf<S>;
}

/** Common value schemas. */
export const values = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  postgresUrl: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgresql:// URL'),
  /** A store: `postgresql://…`, `pglite:<directory>` or `pglite:memory`. */
  storeLocation: z.string().refine(isStoreLocation, 'expected postgresql://…, pglite:<directory> or pglite:memory'),
  natsUrl: z.string().regex(/^(nats|tls|ws|wss):\/\/[^,]+(,(nats|tls|ws|wss):\/\/[^,]+)*$/, 'expected nats://host:port (comma-separated for a cluster)'),
  subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'expected NATS subject tokens joined by ".", e.g. twinx'),
  slug: z.string().refine(isValidSlug, 'expected an organization slug such as acme or globex-steel'),
  httpUrl: z.url({ protocol: /^https?$/ }),
  /** Comma-separated web origins, e.g. `https://dashboard.example.com,http://localhost:5173`. */
  origins: z
    .string()
    .transform((text) => text.split(',').map((origin) => origin.trim()))
    .pipe(
      z.array(
        z
          .string()
          .refine(
            (origin) => URL.canParse(origin) && new URL(origin).origin === origin,
            'expected origins such as https://dashboard.example.com, comma-separated',
          ),
      ),
    ),
  positiveInt: (fallback: number) => z.coerce.number().int().min(1).default(fallback),
  /** A boolean flag, or `true`/`false`/`1`/`0` in the environment. */
  flag: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
    .transform((value) => value === true || value === 'true' || value === '1')
    .default(false),
  /** A duration such as `90d`, `12h` or `30m`, in milliseconds. */
  duration: z
    .string()
    .regex(/^\d+[smhd]$/, 'expected a duration such as 30d, 12h or 45m')
    .transform((text) => Number(text.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.at(-1) as 's' | 'm' | 'h' | 'd']),
  /** An address to listen on, `host:port` (`[::1]:9400` for IPv6). */
  listen: (fallback: string) =>
    z
      .string()
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9400')
      .transform((text) => {
        const at = text.lastIndexOf(':');
        return { host: text.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(at + 1)) };
      })
      .refine((address) => address.port <= 65535, 'port above 65535')
      .prefault(fallback),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Settings every service reads the same way. */
export const commonSettings = {
  natsUrl: { flag: 'nats-url', env: 'NATS_URL', schema: values.natsUrl.default('nats://127.0.0.1:4222') },
  /** A NATS `.creds` file (`twinx network add` / `twinx network credentials` write them). */
  natsCreds: { flag: 'nats-creds', env: 'NATS_CREDS', schema: z.string().min(1).optional() },
  subjectPrefix: { flag: 'subject-prefix', env: 'TWINX_SUBJECT_PREFIX', schema: values.subjectPrefix },
  host: { flag: 'host', env: 'TWINX_HOST', schema: z.string().min(1).default('127.0.0.1') },
  migrate: { flag: 'migrate', env: 'TWINX_MIGRATE', schema: values.flag },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: values.logLevel },
  /** Browser origins allowed to call the service (CORS); none by default: same origin only. */
  corsOrigins: { flag: 'cors-origins', env: 'TWINX_CORS_ORIGINS', schema: values.origins.default([]) },
  /** Query limits of a GraphQL endpoint (lib/graphql/limits.ts). */
  maxDepth: { flag: 'max-depth', env: 'TWINX_MAX_DEPTH', schema: values.positiveInt(12) },
  maxCost: { flag: 'max-cost', env: 'TWINX_MAX_COST', schema: values.positiveInt(20_000) },
};
