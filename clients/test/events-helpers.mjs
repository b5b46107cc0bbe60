// Shared by the event relay tests (test/events.test.mjs over NATS JetStream,
// events/webhook.test.mjs over a Standard Webhooks receiver): the GraphQL
// side of a task, the CloudEvents envelope the relay promises, and /metrics.
import assert from 'node:assert/strict';

import { CloudEvent } from 'cloudevents';

export const TYPES = {
  created: 'todo.task.created.v1',
  updated: 'todo.task.updated.v1',
  deleted: 'todo.task.deleted.v1',
  reminder_due: 'todo.task.reminder_due.v1',
};
const KIND_OF_TYPE = Object.fromEntries(Object.entries(TYPES).map(([kind, type]) => [type, kind]));
export const kindOf = (type) => KIND_OF_TYPE[type];

// Every field of the envelope's `data` (created/updated), as GraphQL names them.
export const TASK_FIELDS = /* GraphQL */ `
  id description priority startAt dueAt done completedAt recurrence timeZone remindAt position createdAt updatedAt version
  owner { id }
  parent { id }
`;
const ENVELOPE_KEYS = ['data', 'datacontenttype', 'id', 'source', 'specversion', 'subject', 'time', 'todoowner', 'type'];
// A fired reminder says too whether it fired late (the extension `todolate`).
const REMINDER_KEYS = [...ENVELOPE_KEYS, 'todolate'].sort();
const DATA_KEYS = ['completedAt', 'createdAt', 'description', 'done', 'dueAt', 'id', 'owner', 'parent', 'position', 'priority', 'recurrence', 'remindAt', 'startAt', 'timeZone', 'updatedAt', 'version'];
const PRIORITIES = ['NONE', 'LOW', 'MEDIUM', 'HIGH'];

/** POSTs one operation to `url`/graphql; throws on any GraphQL error. */
export async function gqlAt(url, query, variables = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`);
  return body.data;
}

/**
 * Changes tasks over GraphQL and records, after every change, what
 * `node(id)` answers for the task: the `data` its event must carry.
 */
export class TaskRecorder {
  constructor(url) {
    this.url = url;
    /** taskId -> [{ kind, version, data, owner }] in the order they were made */
    this.changes = new Map();
  }

  async snapshot(id) {
    const { node } = await gqlAt(this.url, `query Snapshot($id: ID!) { node(id: $id) { ... on Task { ${TASK_FIELDS} } } }`, { id });
    assert.ok(node, `node(id: ${id}) is null right after a change`);
    return node;
  }

  record(id, change) {
    if (!this.changes.has(id)) this.changes.set(id, []);
    this.changes.get(id).push(change);
  }

  async create(input) {
    const data = await gqlAt(this.url, 'mutation C($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }', { input });
    const { id } = data.createTask.task;
    const node = await this.snapshot(id);
    this.record(id, { kind: 'created', version: node.version, data: node, owner: node.owner.id });
    return node;
  }

  async update(input) {
    await gqlAt(this.url, 'mutation U($input: UpdateTaskInput!) { updateTask(input: $input) { task { id } } }', { input });
    const node = await this.snapshot(input.id);
    this.record(input.id, { kind: 'updated', version: node.version, data: node, owner: node.owner.id });
    return node;
  }

  async delete(id) {
    const before = this.changes.get(id)?.at(-1);
    const data = await gqlAt(this.url, 'mutation D($input: DeleteTaskInput!) { deleteTask(input: $input) { deletedTaskIds } }', { input: { id } });
    assert.deepEqual(data.deleteTask.deletedTaskIds, [id]);
    this.record(id, { kind: 'deleted', version: before?.version, data: null, owner: before?.owner });
  }

  /** How many events the recorded changes must produce. */
  get expectedCount() {
    let n = 0;
    for (const list of this.changes.values()) n += list.length;
    return n;
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Checks one envelope (already parsed from JSON) against the contract and
 * against the CloudEvents SDK's own strict validation; returns the SDK's event.
 */
export function checkEnvelope(obj, { source }) {
  const where = `event ${JSON.stringify(obj).slice(0, 300)}`;
  // The SDK's constructor fills in a missing id and time, so look first.
  for (const key of ['specversion', 'id', 'source', 'type', 'time']) {
    assert.equal(typeof obj[key], 'string', `${where}: ${key} must be a string`);
  }
  const event = new CloudEvent(obj, true); // strict: throws a ValidationError on an invalid event
  assert.equal(event.validate(), true);
  assert.equal(obj.specversion, '1.0');
  assert.match(obj.id, /^[1-9][0-9]*$/, `${where}: id must be the event's log position, a decimal string`);
  assert.equal(obj.source, source);
  const kind = kindOf(obj.type);
  assert.ok(kind, `${where}: unknown type ${obj.type}`);
  const keys = kind === 'reminder_due' ? REMINDER_KEYS : ENVELOPE_KEYS;
  assert.deepEqual(Object.keys(obj).sort(), keys, `${where}: attributes`);
  if (kind === 'reminder_due') assert.equal(typeof obj.todolate, 'boolean', `${where}: todolate`);
  assert.equal(obj.datacontenttype, 'application/json');
  assert.match(obj.time, ISO_TIME, `${where}: time must be RFC 3339`);
  assert.ok(Number.isFinite(Date.parse(obj.time)), `${where}: time does not parse`);
  assert.equal(typeof obj.subject, 'string');
  assert.equal(typeof obj.todoowner, 'string');
  assert.ok(obj.todoowner.length > 0, `${where}: todoowner is empty`);
  assert.equal(typeof obj.data, 'object');
  assert.ok(obj.data, `${where}: data is null`);
  assert.equal(obj.data.id, obj.subject, `${where}: data.id must equal subject`);
  assert.ok(Number.isInteger(obj.data.version) && obj.data.version >= 1, `${where}: data.version`);
  if (kind === 'deleted') {
    assert.deepEqual(Object.keys(obj.data).sort(), ['id', 'version'], `${where}: a deleted event's data is {id, version}`);
  } else {
    assert.deepEqual(Object.keys(obj.data).sort(), DATA_KEYS, `${where}: data fields`);
    assert.ok(PRIORITIES.includes(obj.data.priority), `${where}: priority`);
    assert.equal(obj.data.owner?.id, obj.todoowner, `${where}: data.owner.id must equal todoowner`);
  }
  return { event, kind };
}

/**
 * The envelopes of one stream of deliveries, in order: ids strictly
 * increasing, and for each recorded task exactly the recorded changes, in
 * order, each carrying what node(id) answered after it.
 */
export function checkAgainstRecorder(envelopes, recorder) {
  let previous = 0n;
  for (const e of envelopes) {
    const id = BigInt(e.id);
    assert.ok(id > previous, `event ids must increase strictly: ${e.id} after ${previous}`);
    previous = id;
  }
  for (const [taskId, changes] of recorder.changes) {
    const mine = envelopes.filter((e) => e.subject === taskId);
    assert.deepEqual(
      mine.map((e) => `${kindOf(e.type)} v${e.data.version}`),
      changes.map((c) => (c.kind === 'deleted' ? `deleted v${mine.at(-1)?.data.version}` : `${c.kind} v${c.version}`)),
      `events of task ${taskId}`,
    );
    for (const [i, change] of changes.entries()) {
      const e = mine[i];
      assert.equal(e.todoowner, change.owner, `todoowner of ${e.type} ${taskId}`);
      if (change.kind === 'deleted') {
        // The delete's version: not below the last version GraphQL showed.
        assert.ok(e.data.version >= changes[i - 1].version, `deleted v${e.data.version} below v${changes[i - 1].version}`);
      } else {
        assert.deepEqual(e.data, change.data, `data of ${e.type} v${change.version} for ${taskId} must equal node(id) after the change`);
      }
    }
    const versions = mine.map((e) => e.data.version);
    for (let i = 1; i < versions.length; i++) {
      const strictly = kindOf(mine[i].type) !== 'deleted';
      assert.ok(strictly ? versions[i] > versions[i - 1] : versions[i] >= versions[i - 1], `versions of ${taskId} out of order: ${versions}`);
    }
  }
}

/** Makes a fixed set of changes that cover every field of the envelope. */
export async function makeChanges(recorder, label) {
  const due = new Date(Date.now() + 86_400_000).toISOString();
  const start = new Date(Date.now() - 3_600_000).toISOString();
  const a = await recorder.create({ description: `${label}: parent`, priority: 'HIGH', dueAt: due });
  const b = await recorder.create({ description: `${label}: child`, parentId: a.id, startAt: start });
  assert.equal(b.parent?.id, a.id);
  await recorder.update({ id: a.id, description: `${label}: parent, renamed`, done: true, priority: 'LOW' });
  await recorder.update({ id: b.id, parentId: null, dueAt: due, expectedVersion: 1 });
  await recorder.update({ id: a.id, done: false, dueAt: null });
  await recorder.delete(b.id);
  await recorder.delete(a.id);
  return [a.id, b.id];
}

/** The samples of one metric in a Prometheus text answer, as [{labels, value}]. */
export function samples(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m || m[1] !== name) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of `name` with label sink=`sink` (and `extra` labels), or undefined. */
export function sinkValue(text, name, sink, extra = {}) {
  const found = samples(text, name).filter(
    (s) => s.labels.sink === sink && Object.entries(extra).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length === 0) return undefined;
  return found.reduce((sum, s) => sum + s.value, 0);
}

export const SINK_METRICS = [
  'events_sink_published_total',
  'events_sink_lag_events',
  'events_sink_lag_seconds',
  'events_sink_last_success_timestamp_seconds',
  'events_sink_stopped',
  'events_sink_publishing',
];

/**
 * /metrics once `ready(text)` holds: every replica refreshes a sink's lag and
 * last success every few seconds, so they trail the deliveries. If it never
 * holds, the last answer (the caller's assertions then say what is wrong).
 */
export async function metricsWhen(url, ready, ms = 20_000) {
  const deadline = Date.now() + ms;
  let text;
  do {
    text = await metricsText(url);
    if (ready(text)) return text;
    await sleep(250);
  } while (Date.now() < deadline);
  return text;
}

export async function metricsText(url) {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200, 'GET /metrics');
  return response.text();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` until it holds or `ms` pass; returns whether it held. */
export async function waitFor(predicate, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(50);
  }
  return Boolean(await predicate());
}

/** Polls `check` (sync or async) until it returns a truthy value. */
export async function eventually(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}
