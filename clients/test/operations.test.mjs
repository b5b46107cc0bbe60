// Every query and mutation in operations/ (the documents codegen types)
// runs against the real server without errors, with fragments attached the
// way a client sends them. The subscription there is exercised by
// subscriptions.test.mjs.
//
//   API_URL=http://127.0.0.1:18080 node --test test/
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Kind, parse, print, visit } from 'graphql';

import { httpUrl } from './helpers.mjs';

const dir = fileURLToPath(new URL('../operations/', import.meta.url));
const definitions = readdirSync(dir)
  .filter((f) => f.endsWith('.graphql'))
  .flatMap((f) => parse(readFileSync(dir + f, 'utf8')).definitions);
const fragments = new Map(
  definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
);
const operations = new Map(
  definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).map((d) => [d.name.value, d]),
);

/** The operation's text with exactly the fragments it spreads. */
function documentFor(name) {
  const operation = operations.get(name);
  assert.ok(operation, `no operation ${name} in operations/`);
  const used = new Set();
  const collect = (node) =>
    visit(node, {
      FragmentSpread(spread) {
        if (!used.has(spread.name.value)) {
          used.add(spread.name.value);
          collect(fragments.get(spread.name.value));
        }
      },
    });
  collect(operation);
  return [operation, ...[...used].map((n) => fragments.get(n))].map(print).join('\n');
}

const ran = new Set();
async function run(name, variables = {}) {
  ran.add(name);
  const response = await fetch(httpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: documentFor(name), operationName: name, variables }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, `${name}: ${JSON.stringify(body)}`);
  assert.equal(body.errors, undefined, `${name}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

test('every query and mutation in operations/ runs without errors', async () => {
  const name = `ops ${Date.now()}`;
  const { createCategory } = await run('CreateCategory', { input: { name } });
  const categoryId = createCategory.category.id;
  const { createTask } = await run('CreateTask', {
    input: { description: 'operations test', priority: 'HIGH', categoryIds: [categoryId] },
  });
  const id = createTask.task.id;
  assert.deepEqual(createTask.task.categories, [{ id: categoryId, name }]);

  const orderBy = [{ field: 'CREATED_AT', direction: 'DESC' }];
  const page = await run('ListTasks', { first: 1, orderBy });
  assert.equal(page.tasks.edges.length, 1);
  // A cursor is only valid with the ordering it was made for.
  await run('ListTasks', { first: 1, orderBy, after: page.tasks.pageInfo.endCursor });
  await run('ListTasksBackward', { last: 1 });
  const { node } = await run('TaskById', { id });
  assert.equal(node.__typename, 'Task');
  assert.equal(node.id, id);

  const { updateTask } = await run('UpdateTask', {
    input: { id, expectedVersion: 1, description: 'renamed', done: true },
  });
  assert.equal(updateTask.task.version, 2);
  await run('ListCategories', { filter: { search: name } });
  const { category } = await run('CategoryTasks', { id: categoryId });
  assert.equal(category.name, name);
  await run('RenameCategory', { input: { id: categoryId, name: `${name} renamed` } });
  await run('RemoveTaskCategories', { input: { taskId: id, categoryIds: [categoryId] } });
  await run('AddTaskCategories', { input: { taskId: id, categoryIds: [categoryId] } });
  await run('SetTasksDone', { input: { ids: [id], done: false } });
  const second = (await run('CreateTask', { input: { description: 'operations test 2' } })).createTask
    .task.id;
  const { moveTask } = await run('MoveTask', { input: { id: second, before: id } });
  assert.equal(moveTask.task.id, second);
  assert.equal(moveTask.task.version, 2);
  await run('DeleteTask', { input: { id: second } });
  assert.deepEqual((await run('DeleteTask', { input: { id } })).deleteTask.deletedTaskIds, [id]);
  await run('DeleteCompletedTasks');
  await run('DeleteCategory', { input: { id: categoryId } });

  const untested = [...operations.values()]
    .filter((op) => op.operation !== 'subscription' && !ran.has(op.name.value))
    .map((op) => op.name.value);
  assert.deepEqual(untested, [], 'add new operations to this test');
});
