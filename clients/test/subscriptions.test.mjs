// Subscriptions through clients nobody here wrote: graphql-ws (protocol
// graphql-transport-ws) and the legacy subscriptions-transport-ws (protocol
// graphql-ws), over `ws`; mutations go over HTTP. Then mutations sent over the
// socket whose execution fails (NOT_FOUND, CONFLICT, BAD_USER_INPUT): each
// must arrive as `next` carrying {data, errors} with the error's
// extensions.code, then `complete`, never as the protocol's `error`.
//
//   API_URL=http://127.0.0.1:18080 node --test test/
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';

import {
  TASK_EVENTS,
  createTask,
  deleteTask,
  updateTask,
  waitFor,
  waitUntilLive,
  wsUrl,
} from './helpers.mjs';

test('graphql-ws client: CREATED, UPDATED, DELETED in order, then a clean completion', async () => {
  let socketProtocol;
  let closeEvent;
  const clientErrors = [];
  const client = createClient({
    url: wsUrl(),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    on: {
      connected: (socket) => {
        socketProtocol = socket.protocol;
      },
      closed: (event) => {
        closeEvent = event;
      },
      error: (err) => clientErrors.push(err),
    },
  });

  const events = [];
  const errors = [];
  let completed = false;
  const unsubscribe = client.subscribe(
    { query: TASK_EVENTS },
    {
      next: (result) => {
        if (result.errors) errors.push(result.errors);
        else events.push(result.data.taskEvents);
      },
      error: (err) => errors.push(err),
      complete: () => {
        completed = true;
      },
    },
  );

  try {
    await waitUntilLive(events, 'graphql-ws');
    assert.equal(socketProtocol, 'graphql-transport-ws');

    const created = await createTask('written by graphql-ws test');
    const updated = await updateTask({ id: created.id, done: true, description: 'renamed' });
    assert.equal(updated.version, 2);
    assert.deepEqual(await deleteTask(created.id), [created.id]);

    const mine = () => events.filter((e) => e.taskId === created.id);
    assert.ok(await waitFor(() => mine().length >= 3, 5000), `events so far: ${JSON.stringify(mine())}`);
    assert.deepEqual(
      mine().map((e) => e.kind),
      ['CREATED', 'UPDATED', 'DELETED'],
    );
    const [c, u, d] = mine();
    assert.deepEqual(c.task, { id: created.id, description: 'written by graphql-ws test', done: false });
    assert.deepEqual(u.task, { id: created.id, description: 'renamed', done: true });
    assert.equal(d.task, null);
    assert.deepEqual(errors, []);
  } finally {
    unsubscribe();
  }

  // Unsubscribing sends `complete`; the sink completes and, with no
  // subscription left, the lazy client closes the socket normally.
  assert.ok(await waitFor(() => completed, 5000), 'the sink never completed');
  assert.ok(await waitFor(() => closeEvent !== undefined, 5000), 'the socket never closed');
  assert.equal(closeEvent.code, 1000, `close: ${closeEvent.code} ${closeEvent.reason}`);
  await client.dispose();
  assert.deepEqual(errors, []);
  assert.deepEqual(clientErrors, []);
});

test('subscriptions-transport-ws client (legacy graphql-ws protocol) receives CREATED', async (t) => {
  let connectionError;
  const client = new SubscriptionClient(
    wsUrl(),
    {
      reconnect: false,
      connectionCallback: (err) => {
        if (err) connectionError = err;
      },
    },
    WebSocket,
  );
  const events = [];
  const errors = [];
  let completed = false;
  const subscription = client.request({ query: TASK_EVENTS }).subscribe({
    next: (result) => {
      if (result.errors) errors.push(result.errors);
      else events.push(result.data.taskEvents);
    },
    error: (err) => errors.push(err),
    complete: () => {
      completed = true;
    },
  });

  try {
    await waitUntilLive(events, 'subscriptions-transport-ws');
    assert.equal(connectionError, undefined);
    assert.equal(client.client.protocol, 'graphql-ws');

    const created = await createTask('written by subscriptions-transport-ws test');
    const mine = () => events.filter((e) => e.taskId === created.id);
    assert.ok(await waitFor(() => mine().length >= 1, 5000), 'no CREATED event');
    assert.equal(mine()[0].kind, 'CREATED');
    assert.deepEqual(mine()[0].task, {
      id: created.id,
      description: 'written by subscriptions-transport-ws test',
      done: false,
    });
    assert.deepEqual(errors, []);
    // Leaves no task behind for the other checks.
    await deleteTask(created.id);
  } finally {
    subscription.unsubscribe();
  }

  // `stop` then `connection_terminate`; the socket closes.
  const socket = client.client;
  const closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
  client.close();
  let timer;
  const code = await Promise.race([
    closed,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 5000);
    }),
  ]);
  clearTimeout(timer);
  assert.notEqual(code, 'timeout', 'the socket never closed');
  // async-graphql ends the connection on `connection_terminate` without a
  // close frame, so `ws` reports 1006 rather than 1000.
  t.diagnostic(`legacy socket close code: ${code}`);
  assert.deepEqual(errors, []);
  assert.equal(completed, false, 'the server must not complete an endless subscription on its own');
});

// Mutations over the socket that fail while executing: the error has a path,
// so it belongs in `next` ({data: null, errors}) followed by `complete`; the
// protocol's `error` is for operations that could not start.
async function failingMutations() {
  const missing = Buffer.from(`Task:${'0'.repeat(32)}`).toString('base64url');
  const task = await createTask('socket mutation target'); // at version 1
  const UPDATE = 'mutation Update($input: UpdateTaskInput!) { updateTask(input: $input) { task { id version } } }';
  return {
    task,
    cases: [
      {
        label: 'updateTask on a missing id',
        code: 'NOT_FOUND',
        path: ['updateTask'],
        query: UPDATE,
        variables: { input: { id: missing, done: true } },
      },
      {
        label: 'updateTask with a stale expectedVersion',
        code: 'CONFLICT',
        path: ['updateTask'],
        query: UPDATE,
        variables: { input: { id: task.id, expectedVersion: 6, done: true } },
      },
      {
        label: 'createTask with an empty description',
        code: 'BAD_USER_INPUT',
        path: ['createTask'],
        query: 'mutation Create($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }',
        variables: { input: { description: '   ' } },
      },
    ],
  };
}

function assertExecutionError(label, code, path, outcome) {
  assert.deepEqual(outcome.errorCalls, [], `${label}: the sink's error handler was called`);
  assert.equal(outcome.results.length, 1, `${label}: ${JSON.stringify(outcome.results)}`);
  const [result] = outcome.results;
  assert.equal(result.data, null, `${label}: data`);
  assert.equal(result.errors?.length, 1, `${label}: ${JSON.stringify(result)}`);
  assert.equal(result.errors[0].extensions?.code, code, `${label}: ${JSON.stringify(result)}`);
  assert.deepEqual(result.errors[0].path, path, label);
  assert.equal(outcome.completed, true, `${label}: no completion after next`);
}

test('graphql-ws client: mutations failing while executing arrive as next {data, errors}, then complete', async () => {
  const clientErrors = [];
  const client = createClient({
    url: wsUrl(),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    on: { error: (err) => clientErrors.push(err) },
  });
  const run = (payload) =>
    new Promise((resolve) => {
      const outcome = { results: [], errorCalls: [], completed: false };
      const timer = setTimeout(() => resolve({ ...outcome, timedOut: true }), 5000);
      client.subscribe(payload, {
        next: (result) => outcome.results.push(result),
        error: (err) => {
          outcome.errorCalls.push(err);
          clearTimeout(timer);
          resolve(outcome);
        },
        complete: () => {
          outcome.completed = true;
          clearTimeout(timer);
          resolve(outcome);
        },
      });
    });
  try {
    const { task, cases } = await failingMutations();
    for (const { label, code, path, query, variables } of cases) {
      const outcome = await run({ query, variables });
      assert.notEqual(outcome.timedOut, true, `${label}: neither complete nor error in 5 s`);
      assertExecutionError(label, code, path, outcome);
    }
    // The stale update changed nothing; the socket is still usable.
    const after = await run({
      query: `query { node(id: "${task.id}") { ... on Task { done version } } }`,
    });
    assert.deepEqual(after.results, [{ data: { node: { done: false, version: 1 } } }]);
    assert.equal(after.completed, true);
    await deleteTask(task.id);
  } finally {
    await client.dispose();
  }
  assert.deepEqual(clientErrors, []);
});

test('subscriptions-transport-ws client: the same mutations arrive as data {data, errors}, then complete', async () => {
  const client = new SubscriptionClient(wsUrl(), { reconnect: false }, WebSocket);
  const run = (payload) =>
    new Promise((resolve) => {
      const outcome = { results: [], errorCalls: [], completed: false };
      const timer = setTimeout(() => resolve({ ...outcome, timedOut: true }), 5000);
      client.request(payload).subscribe({
        next: (result) => outcome.results.push(result),
        error: (err) => {
          outcome.errorCalls.push(err);
          clearTimeout(timer);
          resolve(outcome);
        },
        complete: () => {
          outcome.completed = true;
          clearTimeout(timer);
          resolve(outcome);
        },
      });
    });
  try {
    const { task, cases } = await failingMutations();
    for (const { label, code, path, query, variables } of cases) {
      const outcome = await run({ query, variables });
      assert.notEqual(outcome.timedOut, true, `${label}: neither complete nor error in 5 s`);
      assertExecutionError(label, code, path, outcome);
    }
    await deleteTask(task.id);
  } finally {
    client.close();
  }
});
