import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url);
const COMPOSE = readFileSync(new URL('docker-compose.yml', ROOT), 'utf8');
/** The image `build: .` makes: the Dockerfile's base. */
const BUILT_FROM = /^FROM (\S+)/m.exec(readFileSync(new URL('Dockerfile', ROOT), 'utf8'))![1]!;

/**
 * What a health check may call in each image family. The official `nats` images other than
 * `-alpine` are built from scratch (nothing but nats-server); `node:*-slim` has no curl or wget.
 */
const TOOLS: [image: RegExp, tools: string[]][] = [
  [/^postgres:[\w.-]+$/, ['pg_isready', 'sh']],
  [/^nats:[\w.]+-alpine[\w.]*$/, ['wget', 'sh']],
  [/^nats:[\w.-]+$/, []],
  [/^node:[\w.-]+$/, ['node', 'sh']],
];

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition?: string }> | string[];
}

/** What keeps a compose file from starting: health checks calling tools their image lacks, dependents not waiting. */
function composeProblems(text: string): string[] {
  const services = (parse(text, { merge: true }) as { services: Record<string, Service> }).services;
  const problems: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    const image = service.image ?? (service.build ? BUILT_FROM : undefined);
    if (service.healthcheck) {
      const { test } = service.healthcheck;
      const tool = Array.isArray(test) ? (test[0] === 'CMD' ? test[1] : test[1]?.split(' ')[0]) : test.split(' ')[0];
      const tools = TOOLS.find(([family]) => family.test(image ?? ''))?.[1];
      if (tools === undefined) problems.push(`${name}: no known tools for image ${image}`);
      else if (!tools.includes(tool ?? '')) problems.push(`${name}: its health check calls ${tool}, which ${image} lacks`);
    }
    // The short form (a list of names) waits for nothing.
    const dependencies: Record<string, { condition?: string }> = Array.isArray(service.depends_on)
      ? Object.fromEntries(service.depends_on.map((dependency) => [dependency, {}]))
      : (service.depends_on ?? {});
    for (const [dependency, { condition }] of Object.entries(dependencies)) {
      const target = services[dependency];
      if (condition === 'service_healthy' && !target?.healthcheck) problems.push(`${name} waits for ${dependency} to be healthy, which has no health check`);
      else if (condition === 'service_completed_successfully' && target?.restart !== 'no')
        problems.push(`${name} waits for ${dependency} to complete, which restarts`);
      else if (condition !== 'service_healthy' && condition !== 'service_completed_successfully')
        problems.push(`${name} starts with ${dependency}, without waiting for it`);
    }
  }
  return problems;
}

describe('docker-compose.yml', () => {
  it('calls in each health check a tool its image has, and starts each service once what it needs is ready', () => {
    expect(composeProblems(COMPOSE)).toEqual([]);
  });

  it('would be caught calling a tool its image lacks, or starting without waiting', () => {
    expect(composeProblems(COMPOSE.replace('image: nats:2.10-alpine', 'image: nats:2.10'))).toEqual([
      'nats: its health check calls wget, which nats:2.10 lacks',
    ]);
    expect(composeProblems(COMPOSE.replace(/(gateway:\s+condition: )service_healthy/, '$1service_started'))).toContain(
      'activate starts with gateway, without waiting for it',
    );
  });

  it.skipIf(!hasDockerCompose())('is valid for docker-compose', async () => {
    await expect(promisify(execFile)('docker-compose', ['config', '-q'], { cwd: ROOT })).resolves.toMatchObject({ stderr: '' });
  });
});

/** Debian's `docker-compose` (CI installs it). */
function hasDockerCompose(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
