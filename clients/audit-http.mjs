// GraphQL over HTTP conformance: graphql-http's server audits against
// ${API_URL}/graphql. Exits non-zero when any MUST audit fails (`error`) or any
// SHOULD audit fails (`warn`); MAY audits that fail (`notice`) are listed only.
//
//   API_URL=http://127.0.0.1:18080 node audit-http.mjs [--json results.json]
import { writeFileSync } from 'node:fs';
import { serverAudits } from 'graphql-http';

const apiUrl = process.env.API_URL;
if (!apiUrl) {
  console.error('audit-http: set API_URL, e.g. API_URL=http://127.0.0.1:18080');
  process.exit(2);
}
const url = `${apiUrl.replace(/\/+$/, '')}/graphql`;
const jsonOut = process.argv.includes('--json')
  ? process.argv[process.argv.indexOf('--json') + 1]
  : undefined;

const counts = { ok: 0, warn: 0, notice: 0, error: 0 };
const results = [];
// One audit at a time, in the package's order: readable logs, no load spikes.
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  counts[result.status] += 1;
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.httpStatus = result.response.status;
    entry.contentType = result.response.headers.get('content-type');
    // The body may already have been read by the audit; ignore that case.
    entry.body = await result.response
      .clone()
      .text()
      .then((t) => t.slice(0, 300))
      .catch(() => '(body already consumed)');
  }
  results.push(entry);
}

const mark = { ok: 'ok    ', notice: 'NOTICE', warn: 'WARN  ', error: 'ERROR ' };
for (const r of results) {
  console.log(`${mark[r.status]} ${r.id} ${r.name}`);
  if (r.status !== 'ok') {
    console.log(`         reason: ${r.reason}`);
    console.log(`         response: ${r.httpStatus} ${r.contentType ?? '(no content-type)'} ${r.body}`);
  }
}
console.log(
  `graphql-http audit of ${url}: ${results.length} audits: ` +
    `${counts.ok} ok, ${counts.warn} warn, ${counts.notice} notice, ${counts.error} error`,
);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ url, counts, results }, null, 2));
if (counts.error > 0 || counts.warn > 0) {
  console.error('audit-http: a MUST (error) or SHOULD (warn) audit failed');
  process.exit(1);
}
