// The event relay seen from outside, through NATS JetStream: tasks changed over
// GraphQL must arrive in the stream as CloudEvents 1.0 (structured JSON), in
// log order, that the official CloudEvents SDK (`cloudevents`) validates
// strictly, read with the official NATS client (`nats`) through a JetStream
// ordered consumer.
//
// It needs the api under test started with the same EVENTS_NATS_* settings the
// test gets; run-all.sh gives both a subject prefix and a stream unique to the
// run, and deletes the stream (events/delete-stream.mjs, the client's
// JetStream manager) once the api has stopped: the test does not, because the
// api keeps publishing the other tests' changes and would create it again.
//
//   EVENTS_NATS_URL=nats://127.0.0.1:4222 EVENTS_NATS_SUBJECT=todo.ci123 \
//   EVENTS_NATS_STREAM=TODO_CI123 API_URL=http://127.0.0.1:18080 node --test test/events.test.mjs
//   (stop the api)  node events/delete-stream.mjs nats://127.0.0.1:4222 TODO_CI123
//
// Without EVENTS_NATS_URL it is skipped (the api has no relay then).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect } from 'nats';

import { apiUrl } from './helpers.mjs';
import {
  SINK_METRICS,
  TaskRecorder,
  checkAgainstRecorder,
  checkEnvelope,
  eventually,
  makeChanges,
  metricsWhen,
  sinkValue,
} from './events-helpers.mjs';

const NATS_URL = process.env.EVENTS_NATS_URL;
const PREFIX = process.env.EVENTS_NATS_SUBJECT ?? 'todo.tasks';
const STREAM = process.env.EVENTS_NATS_STREAM ?? 'TODO_TASKS';
const SOURCE = process.env.EVENTS_SOURCE ?? '/todo';
const skip = NATS_URL ? false : 'EVENTS_NATS_URL is not set: the api under test has no NATS relay';

let nc;
let jsm;

before(async () => {
  if (skip) return;
  nc = await connect({ servers: NATS_URL, name: 'todo-clients events.test.mjs' });
  jsm = await nc.jetstreamManager();
});

after(async () => {
  await nc?.close();
});

/**
 * Reads the stream from its start through an ordered consumer until `enough`
 * holds for what was read (or `ms` pass); returns every message read.
 */
async function readStream(enough, ms = 30_000) {
  const consumer = await eventually(`stream ${STREAM} (the api creates it)`, () => nc.jetstream().consumers.get(STREAM), ms);
  const messages = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
    for await (const m of batch) {
      messages.push({
        subject: m.subject,
        seq: m.seq,
        msgId: m.headers?.get('Nats-Msg-Id'),
        text: m.string(),
      });
    }
    if (enough(messages)) break;
  }
  return messages;
}

test('NATS JetStream: every change arrives once, in order, as a strict CloudEvent carrying what GraphQL shows', { skip }, async () => {
  const recorder = new TaskRecorder(apiUrl());
  const [a, b] = await makeChanges(recorder, 'events.test.mjs (NATS)');
  const wanted = recorder.expectedCount;

  const parse = (messages) => messages.map((m) => ({ ...m, envelope: JSON.parse(m.text) }));
  const messages = parse(
    await readStream((read) => parse(read).filter((m) => [a, b].includes(m.envelope.subject)).length >= wanted),
  );
  const mine = messages.filter((m) => [a, b].includes(m.envelope.subject));
  assert.equal(mine.length, wanted, `messages of this test's tasks: ${mine.map((m) => m.text).join('\n')}`);

  // Every message in the stream, other tests' included.
  for (const m of messages) {
    const { kind } = checkEnvelope(m.envelope, { source: SOURCE });
    assert.equal(m.subject, `${PREFIX}.${kind}`, 'NATS subject is <prefix>.<created|updated|deleted>');
    assert.equal(m.msgId, m.envelope.id, 'header Nats-Msg-Id equals the event id');
  }
  checkAgainstRecorder(
    messages.map((m) => m.envelope),
    recorder,
  );

  const info = await jsm.streams.info(STREAM);
  assert.deepEqual(info.config.subjects, [`${PREFIX}.>`], 'the stream the api creates takes <prefix>.>');
  assert.equal(info.state.first_seq, 1, 'the stream was read from its first message');
  assert.equal(messages[0]?.seq, 1);
});

test('NATS: /metrics shows the sink caught up, publishing on this replica', { skip }, async () => {
  const info = await jsm.streams.info(STREAM);
  const text = await metricsWhen(
    apiUrl(),
    (t) =>
      sinkValue(t, 'events_sink_lag_events', 'nats') === 0 &&
      sinkValue(t, 'events_sink_published_total', 'nats') >= info.state.messages &&
      sinkValue(t, 'events_sink_last_success_timestamp_seconds', 'nats') > 0,
  );
  for (const name of SINK_METRICS) {
    assert.notEqual(sinkValue(text, name, 'nats'), undefined, `${name}{sink="nats"} is missing from /metrics`);
  }
  assert.equal(sinkValue(text, 'events_sink_lag_events', 'nats'), 0);
  assert.ok(sinkValue(text, 'events_sink_published_total', 'nats') >= info.state.messages, 'published_total counts every message in the stream');
  assert.equal(sinkValue(text, 'events_sink_lag_seconds', 'nats'), 0);
  assert.equal(sinkValue(text, 'events_sink_publishing', 'nats'), 1);
  assert.equal(sinkValue(text, 'events_sink_stopped', 'nats'), 0);
  const last = sinkValue(text, 'events_sink_last_success_timestamp_seconds', 'nats');
  assert.ok(Math.abs(last - Date.now() / 1000) < 600, `last success ${last} is not a recent unix time`);
});
