// The example front-end: a TodoMVC-style list on the to-do GraphQL API.
// Plain ES modules, no build step. The API is this page's own server unless
// `?api=http://host:port` names another one (which must then allow this
// page's origin in its CORS_ALLOWED_ORIGINS).

import { createClient } from './graphql.js';

const TASK = /* GraphQL */ `fragment AppTask on Task { id description done version createdAt }`;

const TASKS = /* GraphQL */ `
  query AppTasks($after: String) {
    tasks(first: 100, after: $after, orderBy: [{ field: CREATED_AT, direction: ASC }]) {
      nodes { ...AppTask }
      pageInfo { hasNextPage endCursor }
    }
  }
  ${TASK}`;
const CREATE = /* GraphQL */ `
  mutation AppCreateTask($input: CreateTaskInput!) { createTask(input: $input) { task { ...AppTask } } }
  ${TASK}`;
const UPDATE = /* GraphQL */ `
  mutation AppUpdateTask($input: UpdateTaskInput!) { updateTask(input: $input) { task { ...AppTask } } }
  ${TASK}`;
const DELETE = /* GraphQL */ `
  mutation AppDeleteTask($input: DeleteTaskInput!) { deleteTask(input: $input) { deletedTaskIds } }`;
const SET_DONE = /* GraphQL */ `
  mutation AppSetTasksDone($input: SetTasksDoneInput!) { setTasksDone(input: $input) { tasks { ...AppTask } } }
  ${TASK}`;
const CLEAR = /* GraphQL */ `
  mutation AppClearCompleted { deleteCompletedTasks(input: {}) { deletedTaskIds } }`;
const EVENTS = /* GraphQL */ `
  subscription AppTaskEvents { taskEvents { kind taskId task { ...AppTask } } }
  ${TASK}`;

const $ = (id) => document.getElementById(id);

function apiUrl() {
  const param = new URLSearchParams(window.location.search).get('api');
  if (!param) return new URL('../', window.location.href).href;
  const url = new URL(param);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`?api= must be an http(s) URL`);
  return url.href;
}

/** id -> task; the server's version decides which copy is newer. */
const tasks = new Map();
let editing = null;
let api;

function upsert(task) {
  const known = tasks.get(task.id);
  if (!known || known.version <= task.version) tasks.set(task.id, task);
}

function remove(ids) {
  for (const id of ids) tasks.delete(id);
}

function filter() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  return hash === 'active' || hash === 'completed' ? hash : 'all';
}

function status(message) {
  $('status').textContent = message;
}

/** Runs one API call; shows its failure instead of throwing. */
async function run(what, action) {
  try {
    const result = await action();
    status('');
    return result;
  } catch (err) {
    console.error(`${what}:`, err);
    status(`Could not ${what}: ${err.message}`);
    return undefined;
  } finally {
    render();
  }
}

async function load() {
  const before = new Set(tasks.keys());
  const all = [];
  let after = null;
  for (;;) {
    const { tasks: page } = await api.request(TASKS, { after });
    all.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  // Tasks known before this load and missing from it were deleted meanwhile.
  const loaded = new Set(all.map((t) => t.id));
  for (const id of before) if (!loaded.has(id)) tasks.delete(id);
  for (const task of all) upsert(task);
}

function render() {
  const list = [...tasks.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  const active = list.filter((t) => !t.done).length;
  const completed = list.length - active;
  const shown = filter();

  $('main').hidden = list.length === 0;
  $('footer').hidden = list.length === 0;
  $('toggle-all').checked = list.length > 0 && active === 0;
  $('count').textContent = `${active} ${active === 1 ? 'item' : 'items'} left`;
  $('clear-completed').hidden = completed === 0;
  for (const a of document.querySelectorAll('.filters a')) {
    a.classList.toggle('selected', a.dataset.filter === shown);
  }

  const ul = $('list');
  const old = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  const visible = list.filter((t) => shown === 'all' || (shown === 'completed') === t.done);
  visible.forEach((task, index) => {
    let li = old.get(task.id);
    old.delete(task.id);
    if (!li) li = item(task.id);
    if (li.dataset.editing !== 'true') {
      li.classList.toggle('completed', task.done);
      li.querySelector('.toggle').checked = task.done;
      li.querySelector('label').textContent = task.description;
    }
    if (ul.children[index] !== li) ul.insertBefore(li, ul.children[index] ?? null);
  });
  for (const li of old.values()) li.remove();
}

/** One list item; its handlers look the task up by id when they run. */
function item(id) {
  const li = document.createElement('li');
  li.dataset.id = id;
  const view = document.createElement('div');
  view.className = 'view';
  const toggle = document.createElement('input');
  toggle.className = 'toggle';
  toggle.type = 'checkbox';
  toggle.setAttribute('aria-label', 'Done');
  const label = document.createElement('label');
  const destroy = document.createElement('button');
  destroy.className = 'destroy';
  destroy.type = 'button';
  destroy.setAttribute('aria-label', 'Delete');
  view.append(toggle, label, destroy);
  li.append(view);

  toggle.addEventListener('change', () =>
    run('update the task', async () => {
      const { updateTask } = await api.request(UPDATE, { input: { id, done: toggle.checked } });
      upsert(updateTask.task);
    }),
  );
  destroy.addEventListener('click', () => deleteTask(id));
  label.addEventListener('dblclick', () => startEditing(li));
  return li;
}

function deleteTask(id) {
  return run('delete the task', async () => {
    const { deleteTask: result } = await api.request(DELETE, { input: { id } });
    remove(result.deletedTaskIds);
  });
}

function startEditing(li) {
  if (editing) return;
  const task = tasks.get(li.dataset.id);
  if (!task) return;
  editing = li;
  li.dataset.editing = 'true';
  li.classList.add('editing');
  const input = document.createElement('input');
  input.className = 'edit';
  input.value = task.description;
  input.maxLength = 1000;
  input.setAttribute('aria-label', 'Rename task');
  li.append(input);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);

  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const description = input.value.trim();
    input.remove();
    li.classList.remove('editing');
    delete li.dataset.editing;
    editing = null;
    if (!save || description === task.description) return render();
    if (description === '') return deleteTask(task.id);
    await run('rename the task', async () => {
      const { updateTask } = await api.request(UPDATE, { input: { id: task.id, description } });
      upsert(updateTask.task);
    });
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') finish(true);
    else if (event.key === 'Escape') finish(false);
  });
  input.addEventListener('blur', () => finish(true));
}

function start() {
  try {
    api = createClient(apiUrl());
  } catch (err) {
    status(`Bad API address: ${err.message}`);
    return;
  }
  $('api-url').textContent = api.httpUrl;

  $('new-task').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('new-description');
    const description = input.value.trim();
    if (!description) return;
    run('add the task', async () => {
      const { createTask } = await api.request(CREATE, { input: { description } });
      upsert(createTask.task);
      input.value = '';
    });
  });
  $('toggle-all').addEventListener('change', (event) => {
    const done = event.target.checked;
    const ids = [...tasks.values()].filter((t) => t.done !== done).map((t) => t.id);
    if (ids.length === 0) return;
    run('update the tasks', async () => {
      const { setTasksDone } = await api.request(SET_DONE, { input: { ids, done } });
      for (const task of setTasksDone.tasks) upsert(task);
    });
  });
  $('clear-completed').addEventListener('click', () =>
    run('clear completed tasks', async () => {
      const { deleteCompletedTasks } = await api.request(CLEAR);
      remove(deleteCompletedTasks.deletedTaskIds);
    }),
  );
  window.addEventListener('hashchange', render);

  const live = $('live');
  api.subscribe(EVENTS, {}, {
    next: (result) => {
      if (result.errors) {
        console.error('taskEvents:', result.errors);
        return;
      }
      const { kind, taskId, task } = result.data.taskEvents;
      if (kind === 'DELETED') remove([taskId]);
      else if (task) upsert(task);
      render();
    },
    error: (err) => status(`Live updates failed: ${err.message}`),
    onStatus: (state) => {
      live.textContent = state;
      live.dataset.state = state;
      // Anything may have changed while we were not subscribed.
      if (state === 'live') run('load the tasks', load);
    },
  });
  run('load the tasks', load);
}

start();
