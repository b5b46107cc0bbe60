// Shared helpers for the subscription tests: HTTP mutations with fetch, and
// a way to know a subscription is live before the mutations under test.

export function apiUrl() {
  const url = process.env.API_URL;
  if (!url) throw new Error('set API_URL, e.g. API_URL=http://127.0.0.1:18080');
  return url.replace(/\/+$/, '');
}

export const httpUrl = () => `${apiUrl()}/graphql`;
export const wsUrl = () => httpUrl().replace(/^http/, 'ws');

export const TASK_EVENTS = /* GraphQL */ `
  subscription TaskEvents {
    taskEvents {
      kind
      taskId
      task { id description done }
    }
  }
`;

/** POSTs one operation over HTTP; throws on any GraphQL error. */
export async function gql(query, variables = {}) {
  const response = await fetch(httpUrl(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.data;
}

export async function createTask(description) {
  const data = await gql(
    `mutation Create($input: CreateTaskInput!) {
       createTask(input: $input) { task { id description done } }
     }`,
    { input: { description } },
  );
  return data.createTask.task;
}

export async function updateTask(input) {
  const data = await gql(
    `mutation Update($input: UpdateTaskInput!) {
       updateTask(input: $input) { task { id description done version } }
     }`,
    { input },
  );
  return data.updateTask.task;
}

export async function deleteTask(id) {
  const data = await gql(
    `mutation Delete($input: DeleteTaskInput!) {
       deleteTask(input: $input) { deletedTaskIds }
     }`,
    { input: { id } },
  );
  return data.deleteTask.deletedTaskIds;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` until it holds or `ms` pass; returns whether it held. */
export async function waitFor(predicate, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await sleep(20);
  }
  return predicate();
}

/**
 * The protocols do not acknowledge that a subscription has started, so
 * mutations sent right after subscribing could race it. Creates probe tasks
 * until one of them shows up in `events` (an array the subscription fills).
 */
export async function waitUntilLive(events, label, ms = 15000) {
  const probes = new Set();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    probes.add((await createTask(`probe: ${label}`)).id);
    if (await waitFor(() => events.some((e) => probes.has(e.taskId)), 250)) return probes;
  }
  throw new Error(`${label}: the subscription delivered no event in ${ms} ms`);
}
