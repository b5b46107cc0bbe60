// A small typed client over the generated documents: what a front-end would
// write. `tsc --noEmit` checking this file proves the generated types fit the
// operations and each other (nothing here runs in CI).
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';

import {
  CreateTaskDocument,
  DeleteTaskDocument,
  ListCategoriesDocument,
  ListTasksDocument,
  TaskByIdDocument,
  TaskEventsDocument,
  UpdateTaskDocument,
  type ListTasksQuery,
  type TaskEventKind,
  type TaskEventsSubscription,
  type TaskFieldsFragment,
} from './gql/graphql';

export class GraphQLRequestError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>,
  ) {
    super(errors.map((e) => e.message).join('; ') || `HTTP ${status}`);
  }
}

export async function request<TResult, TVariables extends Record<string, unknown>>(
  endpoint: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): Promise<TResult> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as {
    data?: TResult | null;
    errors?: GraphQLRequestError['errors'];
  };
  if (body.errors?.length || body.data == null) {
    throw new GraphQLRequestError(response.status, body.errors ?? []);
  }
  return body.data;
}

/** Every task, page by page (Relay forward pagination). */
export async function allTasks(endpoint: string, done?: boolean): Promise<TaskFieldsFragment[]> {
  const tasks: TaskFieldsFragment[] = [];
  let after: string | null = null;
  for (;;) {
    const page: ListTasksQuery = await request(endpoint, ListTasksDocument, {
      first: 50,
      after,
      filter: done === undefined ? null : { done },
      orderBy: [{ field: 'CREATED_AT', direction: 'ASC' }],
    });
    tasks.push(...page.tasks.edges.map((edge) => edge.node));
    if (!page.tasks.pageInfo.hasNextPage) return tasks;
    after = page.tasks.pageInfo.endCursor;
  }
}

export async function renameAndComplete(endpoint: string, description: string): Promise<string> {
  const { createTask } = await request(endpoint, CreateTaskDocument, {
    input: { description, priority: 'HIGH', categoryIds: [] },
  });
  const { updateTask } = await request(endpoint, UpdateTaskDocument, {
    input: {
      id: createTask.task.id,
      expectedVersion: createTask.task.version,
      description: `${description} (renamed)`,
      done: true,
      dueAt: null,
    },
  });
  const completedAt: string | null = updateTask.task.completedAt;
  const refetched = await request(endpoint, TaskByIdDocument, { id: updateTask.task.id });
  if (refetched.node?.__typename === 'Task') {
    const subtasks: number = refetched.node.subtasks.totalCount;
    void subtasks;
  }
  const { deleteTask } = await request(endpoint, DeleteTaskDocument, {
    input: { id: createTask.task.id },
  });
  return `${deleteTask.deletedTaskIds.length} deleted, completed at ${completedAt ?? 'never'}`;
}

export async function categoryNames(endpoint: string): Promise<string[]> {
  const { categories } = await request(endpoint, ListCategoriesDocument, { first: 100 });
  return categories.edges.map((edge) => `${edge.node.name} (${edge.node.tasks.totalCount})`);
}

/** Live updates over graphql-transport-ws; returns a function that stops them. */
export function watchTasks(
  client: Client,
  onEvent: (kind: TaskEventKind, taskId: string, task: TaskFieldsFragment | null) => void,
): () => void {
  return client.subscribe<TaskEventsSubscription>(
    { query: print(TaskEventsDocument), variables: { filter: { kinds: ['CREATED', 'DELETED'] } } },
    {
      next: ({ data }) => {
        if (data) onEvent(data.taskEvents.kind, data.taskEvents.taskId, data.taskEvents.task);
      },
      error: (err) => console.error(err),
      complete: () => undefined,
    },
  );
}

export function connect(wsEndpoint: string): Client {
  return createClient({ url: wsEndpoint });
}

// The generated types reject what the schema rejects.
export async function typeErrors(endpoint: string): Promise<void> {
  // @ts-expect-error: `description` is required.
  await request(endpoint, CreateTaskDocument, { input: { priority: 'LOW' } });
  // @ts-expect-error: no such priority.
  await request(endpoint, CreateTaskDocument, { input: { description: 'x', priority: 'URGENT' } });
  // @ts-expect-error: `id` is required.
  await request(endpoint, UpdateTaskDocument, { input: { done: true } });
}
