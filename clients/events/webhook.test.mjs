// The event relay's webhook sink seen from outside: an HTTP receiver (node:http
// on a free port) gets the api's POSTs and checks every one with
// `standardwebhooks`, the Standard Webhooks reference library (an outside
// implementation of the signature scheme), and parses the body with the
// CloudEvents SDK's HTTP binding, then validates it strictly.
//
// The test starts an api of its own (API_BIN, default ../target/debug/api,
// fresh SQLite database in a temp dir) with EVENTS_WEBHOOK_URL pointing at the
// receiver and a random EVENTS_WEBHOOK_SECRET. The receiver answers
//   - 503 to the first delivery: the relay must send the same event again
//     (same webhook-id, same envelope) before any later one;
//   - 200 to the others, until
//   - it answers 410 Gone: the relay must stop the sink (events_sink_stopped 1)
//     and send nothing more.
//
//   node --test events/webhook.test.mjs          (from clients/, after cargo build -p api)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import {
  SINK_METRICS,
  TaskRecorder,
  checkAgainstRecorder,
  checkEnvelope,
  makeChanges,
  metricsWhen,
  sinkValue,
  sleep,
  waitFor,
} from '../test/events-helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const API_BIN = resolve(process.env.API_BIN ?? join(here, '../../target/debug/api'));
const SOURCE = '/todo-webhook-test';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const HOOK_PATH = '/hooks/todo';

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createNetServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts the api with `env` on a fresh SQLite database; resolves once /readyz answers. */
async function startApi(env) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'todo-webhook-'));
  const logPath = join(dir, 'api.log');
  const log = openSync(logPath, 'w');
  const child = spawn(API_BIN, [], {
    cwd: dir, // no .env of the repository is read
    env: { PATH: process.env.PATH, DATABASE_URL: `sqlite://${dir}/todo.db?mode=rwc`, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', log, log],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const tail = () => readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n');
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    if (process.env.KEEP_TMP === '1') console.log(`api log kept: ${logPath}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !exited) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, stop, tail };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const log_ = tail();
  await stop();
  throw new Error(`the api did not become ready on port ${port}; its log:\n${log_}`);
}

// The receiver: every request, with the answer it got.
const requests = [];
let answer = (index) => (index === 0 ? 503 : 200);
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const status = answer(requests.length);
    requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status, at: Date.now() });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 410 ? 'gone' : '');
  });
});

let api;

before(async () => {
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${receiver.address().port}${HOOK_PATH}`;
  api = await startApi({ EVENTS_WEBHOOK_URL: hook, EVENTS_WEBHOOK_SECRET: SECRET, EVENTS_SOURCE: SOURCE });
});

after(async () => {
  await api?.stop();
  await new Promise((r) => receiver.close(r));
});

/** Checks one request as a Standard Webhooks delivery of a structured CloudEvent. */
function checkDelivery(request) {
  assert.equal(request.method, 'POST');
  assert.equal(request.url, HOOK_PATH);
  assert.match(request.headers['content-type'], /^application\/cloudevents\+json(;|$)/);
  const headers = {
    'webhook-id': request.headers['webhook-id'],
    'webhook-timestamp': request.headers['webhook-timestamp'],
    'webhook-signature': request.headers['webhook-signature'],
  };
  assert.match(headers['webhook-timestamp'] ?? '', /^[0-9]+$/, 'webhook-timestamp is unix seconds');
  assert.ok(Math.abs(Number(headers['webhook-timestamp']) - request.at / 1000) < 60, 'webhook-timestamp is the sending time');
  assert.match(headers['webhook-signature'] ?? '', /^v1,[A-Za-z0-9+/]+={0,2}( |$)/);
  // The outside implementation verifies the signature (and the timestamp's tolerance) ...
  const verified = new Webhook(SECRET).verify(request.body, headers);
  // ... and refuses the same delivery under another key or with a changed body.
  assert.throws(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(request.body, headers), WebhookVerificationError);
  assert.throws(() => new Webhook(SECRET).verify(`${request.body} `, headers), WebhookVerificationError);
  const envelope = JSON.parse(request.body);
  assert.deepEqual(verified, envelope);
  assert.equal(headers['webhook-id'], envelope.id, 'webhook-id equals the event id');
  // The SDK's HTTP binding reads it as a structured-mode event ...
  const parsed = HTTP.toEvent({ headers: request.headers, body: request.body });
  assert.ok(parsed instanceof CloudEvent, 'one event, not a batch');
  assert.equal(parsed.validate(), true);
  assert.equal(parsed.id, envelope.id);
  assert.equal(parsed.type, envelope.type);
  assert.deepEqual(parsed.data, envelope.data);
  // ... and the envelope is what the contract says.
  checkEnvelope(envelope, { source: SOURCE });
  return envelope;
}

test('webhook: /metrics has the sink from the start', async () => {
  // (A moment's grace: the relay may register them just after /readyz.)
  const text = await metricsWhen(api.url, (t) => SINK_METRICS.every((name) => sinkValue(t, name, 'webhook') !== undefined), 5000);
  for (const name of SINK_METRICS) {
    assert.notEqual(sinkValue(text, name, 'webhook'), undefined, `${name}{sink="webhook"} is missing from /metrics before any event`);
  }
  assert.equal(sinkValue(text, 'events_sink_published_total', 'webhook'), 0);
  assert.equal(sinkValue(text, 'events_sink_stopped', 'webhook'), 0);
  // The only replica takes the sink's lease soon after the start.
  const later = await metricsWhen(api.url, (t) => sinkValue(t, 'events_sink_publishing', 'webhook') === 1);
  assert.equal(sinkValue(later, 'events_sink_publishing', 'webhook'), 1, 'this replica holds the lease');
});

test('webhook: signed deliveries (standardwebhooks), strict CloudEvents, in order, a refused one sent again', async () => {
  const recorder = new TaskRecorder(api.url);
  await makeChanges(recorder, 'webhook.test.mjs');
  const wanted = recorder.expectedCount;
  const delivered = () => requests.filter((r) => r.status >= 200 && r.status < 300);
  const all = await waitFor(() => delivered().length >= wanted, 60_000);
  assert.ok(all, `${wanted} deliveries answered 2xx in 60 s; answers so far: ${requests.map((r) => r.status).join(' ') || 'none'}`);
  await sleep(500); // nothing more may come
  assert.equal(delivered().length, wanted, 'one accepted delivery per change');

  const envelopes = requests.map(checkDelivery);
  // The refused first delivery came again, unchanged, before anything else.
  assert.equal(requests[0].status, 503);
  assert.equal(requests[1].headers['webhook-id'], requests[0].headers['webhook-id'], 'the retry keeps webhook-id');
  assert.deepEqual(envelopes[1], envelopes[0], 'the retry carries the same event');
  checkAgainstRecorder(
    envelopes.filter((_, i) => requests[i].status === 200),
    recorder,
  );

  const text = await metricsWhen(
    api.url,
    (t) =>
      sinkValue(t, 'events_sink_lag_events', 'webhook') === 0 &&
      sinkValue(t, 'events_sink_published_total', 'webhook') >= wanted &&
      sinkValue(t, 'events_sink_last_success_timestamp_seconds', 'webhook') > 0,
  );
  assert.equal(sinkValue(text, 'events_sink_lag_events', 'webhook'), 0);
  assert.ok(sinkValue(text, 'events_sink_published_total', 'webhook') >= wanted, 'published_total counts the accepted deliveries');
  assert.ok(sinkValue(text, 'events_sink_failures_total', 'webhook', { reason: 'rejected' }) >= 1, 'the 503 counts as rejected');
  assert.equal(sinkValue(text, 'events_sink_lag_seconds', 'webhook'), 0);
  assert.ok(sinkValue(text, 'events_sink_last_success_timestamp_seconds', 'webhook') > Date.now() / 1000 - 600);
});

test('webhook: 410 Gone stops the sink; nothing more is sent', async () => {
  const before410 = requests.length;
  answer = () => 410;
  const recorder = new TaskRecorder(api.url);
  await recorder.create({ description: 'webhook.test.mjs: answered 410' });
  assert.ok(await waitFor(() => requests.length > before410, 30_000), 'a delivery came to be answered 410');
  const text = await metricsWhen(api.url, (t) => sinkValue(t, 'events_sink_stopped', 'webhook') === 1);
  assert.equal(sinkValue(text, 'events_sink_stopped', 'webhook'), 1);
  assert.ok(sinkValue(text, 'events_sink_failures_total', 'webhook', { reason: 'gone' }) >= 1, 'the 410 counts as gone');
  checkDelivery(requests[before410]);

  const after410 = requests.length;
  answer = () => 200;
  await recorder.create({ description: 'webhook.test.mjs: after the sink stopped' });
  await sleep(3000);
  assert.equal(requests.length, after410, 'a stopped sink gets nothing more');
});
