// Through a real gateway (gateway.mjs: Hive Gateway's runtime on the composed
// supergraph) in front of the to-do api and the users subgraph.
//
//   GATEWAY_URL=http://127.0.0.1:4000 API_URL=http://127.0.0.1:8080 \
//   AUTH_JWT_SECRET=... node --test test/
// API_URL is used only to compare the api's own answers with the gateway's and
// to ask its _entities directly. Expects a fresh database: alice and bob own
// only the tasks these tests create.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { createClient } from 'graphql-ws';
import { SignJWT } from 'jose';
import WebSocket from 'ws';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value.replace(/\/+$/, '');
};
const GATEWAY = `${env('GATEWAY_URL')}/graphql`;
const API = `${env('API_URL')}/graphql`;
const SECRET = new TextEncoder().encode(env('AUTH_JWT_SECRET'));

const tokens = new Map();
async function bearer(subject) {
  if (!tokens.has(subject)) {
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject)
      .setExpirationTime('10m')
      .sign(SECRET);
    tokens.set(subject, `Bearer ${jwt}`);
  }
  return tokens.get(subject);
}

/** POSTs to url as subject (no Authorization when subject is null); the whole body. */
async function post(url, subject, query, variables = {}) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (subject) headers.authorization = await bearer(subject);
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${url}: HTTP ${response.status}, not JSON: ${text.slice(0, 300)}`);
  }
}
const viaGateway = (subject, query, variables) => post(GATEWAY, subject, query, variables);
const direct = (subject, query, variables) => post(API, subject, query, variables);

/** Through the gateway; throws on any error. */
async function data(subject, query, variables) {
  const body = await viaGateway(subject, query, variables);
  if (body.errors) throw new Error(`errors: ${JSON.stringify(body)}`);
  return body.data;
}

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateTaskInput!) {
    createTask(input: $input) { task { id description version } }
  }
`;
const createTask = async (subject, description) =>
  (await data(subject, CREATE, { input: { description } })).createTask.task;
const pinTask = (subject, taskId) =>
  data(subject, 'mutation Pin($taskId: ID) { pinTask(taskId: $taskId) { id } }', { taskId });

const ME = /* GraphQL */ `
  {
    me {
      name
      pinnedTask { description done }
      tasks(first: 10) { totalCount nodes { description } }
    }
  }
`;

const tasks = {};
before(async () => {
  tasks.aliceMilk = await createTask('alice', 'alice: buy milk');
  tasks.aliceBread = await createTask('alice', 'alice: bake bread');
  tasks.bobBoat = await createTask('bob', 'bob: paint the boat');
});

test('a query starting in the users subgraph fetches task fields from ours (_entities)', async () => {
  await pinTask('alice', tasks.aliceMilk.id);
  const { me } = await data('alice', ME);
  assert.equal(me.name, 'Alice Liddell');
  // pinnedTask: a Task stub from users, its fields from our _entities (Task).
  assert.deepEqual(me.pinnedTask, { description: 'alice: buy milk', done: false });
  // tasks: our contribution to User, through _entities with a User representation.
  assert.equal(me.tasks.totalCount, 2);
  assert.deepEqual(me.tasks.nodes.map((n) => n.description).sort(), ['alice: bake bread', 'alice: buy milk']);
});

test("a query starting in ours fetches the owner's name from the users subgraph", async () => {
  const { tasks: page } = await data('bob', '{ tasks(first: 5) { nodes { description owner { id name } } } }');
  assert.deepEqual(page.nodes, [{ description: 'bob: paint the boat', owner: { id: 'bob', name: 'Bob Cratchit' } }]);

  const { tasks: alices } = await data('alice', '{ tasks(first: 5) { nodes { description owner { id name } } } }');
  assert.equal(alices.nodes.length, 2);
  for (const node of alices.nodes) assert.deepEqual(node.owner, { id: 'alice', name: 'Alice Liddell' });
});

test('Authorization is forwarded: each user sees only their own tasks, also through _entities', async () => {
  const LIST = '{ tasks(first: 10) { totalCount nodes { id } } }';
  const aliceIds = [tasks.aliceMilk.id, tasks.aliceBread.id].sort();
  assert.deepEqual((await data('alice', LIST)).tasks.nodes.map((n) => n.id).sort(), aliceIds);
  assert.deepEqual((await data('bob', LIST)).tasks.nodes.map((n) => n.id), [tasks.bobBoat.id]);

  // me { tasks }: the users subgraph answers me, ours answers User.tasks.
  await pinTask('bob', null);
  const bob = (await data('bob', ME)).me;
  assert.deepEqual(bob, {
    name: 'Bob Cratchit',
    pinnedTask: null,
    tasks: { totalCount: 1, nodes: [{ description: 'bob: paint the boat' }] },
  });

  // Bob pins alice's task: the users subgraph keeps any id, our _entities
  // answers null for another owner's task, so pinnedTask is null. The gateway
  // (graphql-tools' merging) reports the null entity as a non-null violation
  // below pinnedTask; nothing of alice's task may leak.
  await pinTask('bob', tasks.aliceMilk.id);
  const stolen = await viaGateway('bob', ME);
  assert.equal(stolen.data.me.pinnedTask, null);
  assert.equal(stolen.data.me.tasks.totalCount, 1);
  for (const error of stolen.errors ?? []) {
    assert.deepEqual(error.path.slice(0, 2), ['me', 'pinnedTask'], JSON.stringify(error));
  }
  assert.doesNotMatch(JSON.stringify(stolen), /buy milk/);

  // The same representation asked of our api directly: null, like a missing id.
  const ENTITIES = /* GraphQL */ `
    query ($representations: [_Any!]!) {
      _entities(representations: $representations) {
        __typename
        ... on Task { description }
        ... on User { id tasks { totalCount } }
      }
    }
  `;
  const representations = [
    { __typename: 'Task', id: tasks.aliceMilk.id },
    { __typename: 'User', id: 'alice' },
    { __typename: 'Task', id: tasks.bobBoat.id },
    { __typename: 'User', id: 'bob' },
  ];
  const asBob = await direct('bob', ENTITIES, { representations });
  assert.deepEqual(asBob, {
    data: {
      _entities: [
        null,
        null,
        { __typename: 'Task', description: 'bob: paint the boat' },
        { __typename: 'User', id: 'bob', tasks: { totalCount: 1 } },
      ],
    },
  });

  // Without a token: the users subgraph's me is null, ours refuses.
  const anonymous = await viaGateway(null, '{ me { name } }');
  assert.deepEqual(anonymous, { data: { me: null } });
  const refused = await viaGateway(null, '{ tasks(first: 1) { totalCount } }');
  assert.equal(refused.data, null);
  assert.equal(refused.errors[0].extensions.code, 'UNAUTHENTICATED');
});

test('errors keep their extensions.code through the gateway, as the api answers them', async () => {
  const missing = Buffer.from(`Task:${'0'.repeat(32)}`).toString('base64url');
  const cases = [
    ['task with a garbage id', 'BAD_USER_INPUT', '{ task(id: "garbage") { id } }', {}],
    [
      'updateTask on a missing id',
      'NOT_FOUND',
      'mutation ($input: UpdateTaskInput!) { updateTask(input: $input) { task { id } } }',
      { input: { id: missing, done: true } },
    ],
    [
      'updateTask with a stale expectedVersion',
      'CONFLICT',
      'mutation ($input: UpdateTaskInput!) { updateTask(input: $input) { task { id } } }',
      { input: { id: tasks.aliceBread.id, expectedVersion: 99, done: true } },
    ],
    ['createTask with an empty description', 'BAD_USER_INPUT', CREATE, { input: { description: '  ' } }],
  ];
  for (const [label, code, query, variables] of cases) {
    const own = await direct('alice', query, variables);
    assert.equal(own.errors?.[0]?.extensions?.code, code, `${label}, from the api: ${JSON.stringify(own)}`);
    const through = await viaGateway('alice', query, variables);
    assert.equal(through.errors?.length, 1, `${label}, through the gateway: ${JSON.stringify(through)}`);
    const [error] = through.errors;
    assert.equal(error.extensions.code, code, `${label}: ${JSON.stringify(through)}`);
    assert.equal(error.message, own.errors[0].message, label);
    assert.deepEqual(error.path, own.errors[0].path, label);
    assert.equal(error.extensions.field, own.errors[0].extensions.field, label);
  }
  // Nothing changed: the stale update did not apply.
  const { node } = await data('alice', `{ node(id: "${tasks.aliceBread.id}") { ... on Task { done version } } }`);
  assert.deepEqual(node, { done: false, version: 1 });
});

test('a subscription through the gateway receives a CREATED event, joined with the users subgraph', async () => {
  const authorization = await bearer('alice');
  const client = createClient({
    url: GATEWAY.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: { authorization },
  });
  const events = [];
  const errors = [];
  let completed = false;
  const unsubscribe = client.subscribe(
    { query: 'subscription { taskEvents { kind taskId task { description owner { name } } } }' },
    {
      next: (result) => (result.errors ? errors.push(result.errors) : events.push(result.data.taskEvents)),
      error: (err) => errors.push(err),
      complete: () => {
        completed = true;
      },
    },
  );
  const waitFor = async (predicate, ms) => {
    const deadline = Date.now() + ms;
    while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return predicate();
  };
  try {
    // No protocol acknowledges that a subscription is live: create probes
    // until one of them arrives (bounded).
    const probes = new Set();
    const deadline = Date.now() + 20000;
    for (;;) {
      probes.add((await createTask('alice', 'probe: gateway subscription')).id);
      if (await waitFor(() => events.some((e) => probes.has(e.taskId)) || errors.length > 0, 300)) break;
      assert.ok(Date.now() < deadline, 'the subscription through the gateway delivered nothing in 20 s');
    }
    assert.deepEqual(errors, []);

    // Bob's task first, then alice's: alice's socket gets only hers.
    const bobs = await createTask('bob', 'bob: not for alice');
    const created = await createTask('alice', 'alice: subscribed through the gateway');
    assert.ok(await waitFor(() => events.some((e) => e.taskId === created.id), 5000), 'no CREATED event');
    const event = events.find((e) => e.taskId === created.id);
    assert.deepEqual(event, {
      kind: 'CREATED',
      taskId: created.id,
      task: { description: 'alice: subscribed through the gateway', owner: { name: 'Alice Liddell' } },
    });
    assert.equal(events.some((e) => e.taskId === bobs.id), false, "bob's event reached alice");
    assert.deepEqual(errors, []);
  } finally {
    unsubscribe();
  }
  assert.ok(await waitFor(() => completed, 5000), 'the subscription did not complete after unsubscribing');
  await client.dispose();
});
