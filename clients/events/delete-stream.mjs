// Deletes JetStream streams with the official NATS client's JetStream manager:
//   node events/delete-stream.mjs NATS_URL STREAM...
// run-all.sh calls it once the api servers that published to them have
// stopped (a running api would create its stream again on its next event).
// A stream that does not exist is not an error.
import { connect } from 'nats';

const [url, ...streams] = process.argv.slice(2);
if (!url || streams.length === 0) {
  console.error('usage: node events/delete-stream.mjs NATS_URL STREAM...');
  process.exit(2);
}
const nc = await connect({ servers: url, name: 'todo-clients delete-stream.mjs' });
const jsm = await nc.jetstreamManager();
let failed = 0;
for (const stream of streams) {
  try {
    await jsm.streams.delete(stream);
    console.log(`deleted stream ${stream}`);
  } catch (err) {
    if (/stream not found/i.test(String(err?.message))) {
      console.log(`stream ${stream} does not exist`);
    } else {
      console.error(`could not delete stream ${stream}: ${err.message}`);
      failed += 1;
    }
  }
}
await nc.close();
process.exit(failed ? 1 : 0);
