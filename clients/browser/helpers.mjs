// Browser tests: Debian's Chromium driven by playwright-core (no browser
// download), against api processes these helpers start on free ports, each
// with a fresh SQLite database in a temp dir.
//
// Environment: API_BIN (default ../target/debug/api), CHROMIUM (default
// /usr/bin/chromium), ARTIFACT_DIR (screenshots; default a temp dir).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const API_BIN = resolve(process.env.API_BIN ?? join(here, '../../target/debug/api'));
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACT_DIR = resolve(process.env.ARTIFACT_DIR ?? mkdtempSync(join(tmpdir(), 'todo-browser-')));
mkdirSync(ARTIFACT_DIR, { recursive: true });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts the api with `env` on top of a fresh SQLite database; resolves once
 * /readyz answers. `label` names its temp dir and log.
 */
export async function startApi(label, env = {}, port) {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), `todo-browser-${label}-`));
  const logPath = join(dir, 'api.log');
  const log = openSync(logPath, 'w');
  const child = spawn(API_BIN, [], {
    cwd: dir, // no .env of the repository is read
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${dir}/todo.db?mode=rwc`,
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, port, origin: url, stop, logPath };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const tail = readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n');
  await stop();
  throw new Error(`api ${label} did not become ready on port ${port}; its log:\n${tail}`);
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** POSTs one operation to an api; throws on any error. */
export async function gql(api, query, variables = {}) {
  const response = await fetch(`${api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`);
  return body.data;
}

export async function createTask(api, description) {
  const data = await gql(
    api,
    'mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id description done } } }',
    { input: { description } },
  );
  return data.createTask.task;
}

export async function allTasks(api) {
  const data = await gql(api, '{ tasks(first: 100) { nodes { id description done } } }');
  return data.tasks.nodes;
}

/** Polls `check` (sync or async) until it returns a truthy value. */
export async function eventually(what, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export function screenshotPath(name) {
  return join(ARTIFACT_DIR, name);
}
