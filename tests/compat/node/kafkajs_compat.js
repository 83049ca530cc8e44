// kafkajs 2.2.4 driver for tests/compat/compat.py. Reads one JSON job on
// stdin, runs it against the cluster and prints one JSON result on stdout.
//   job: {brokers: ["h:p", ...], topic, create: {numPartitions, replicationFactor,
//         configEntries: [{name, value}]} | null, chunk: N,
//         messages: [{partition, key: b64|null, value: b64|null, headers: {k: b64}}]}
//   result: {created, sends: [[{partition, errorCode, baseOffset}, ...] per send()],
//            offsetsFirst: fetchTopicOffsets(topic) right after the last ack,
//            offsets: the same once it covers every ack (or after 5 s),
//            configs: describeConfigs entries,
//            consumed: [{partition, offset, key, value, headers}] when job.group
//                      is set: a kafkajs consumer in that group (subscribed
//                      from the beginning) ran until it had job.expect
//                      records or 60 s passed, committing as it went}
// kafkajs has no manual partition assignment: its consumer always uses a
// consumer group.
'use strict';
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs');

const b64 = (s) => (s === null ? null : Buffer.from(s, 'base64'));

const enc = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'));

// Consumes job.topic in consumer group job.group until job.expect records
// arrived (or 60 s), then leaves the group.
async function consume(kafka, job) {
  const consumer = kafka.consumer({ groupId: job.group, sessionTimeout: 30000,
                                    heartbeatInterval: 1000, maxWaitTimeInMs: 200 });
  const got = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: job.topic, fromBeginning: true });
    let done;
    const finished = new Promise((res) => { done = res; });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers = {};
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = enc(v);
        got.push({ partition, offset: message.offset, key: enc(message.key),
                   value: enc(message.value), headers });
        if (got.length >= job.expect) done();
      },
    });
    let timer;
    await Promise.race([finished, new Promise((res) => { timer = setTimeout(res, 60000); })]);
    clearTimeout(timer); // a pending timer would keep node running
  } finally {
    await consumer.disconnect();
  }
  return got;
}

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const job = JSON.parse(Buffer.concat(chunks).toString());
  const kafka = new Kafka({
    clientId: 'stretchlog-compat',
    brokers: job.brokers,
    logLevel: logLevel.WARN,
    // Log lines go to stderr: stdout carries only the result.
    logCreator: () => ({ label, log }) =>
      process.stderr.write(`kafkajs ${label} ${log.message} ${log.error || ''}\n`),
    retry: { retries: 5, initialRetryTime: 200 },
  });
  const out = { created: null, sends: [], offsets: null, configs: null };
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (job.create) {
      out.created = await admin.createTopics({
        topics: [{ topic: job.topic, ...job.create }],
        waitForLeaders: true,
      });
    }
    const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
    const ends = {}; // partition -> offset after its last acknowledged record
    await producer.connect();
    try {
      for (let i = 0; i < job.messages.length; i += job.chunk) {
        const chunk = job.messages.slice(i, i + job.chunk);
        const messages = chunk.map((m) => {
          const headers = {};
          for (const [k, v] of Object.entries(m.headers || {})) headers[k] = b64(v);
          return { partition: m.partition, key: b64(m.key), value: b64(m.value), headers };
        });
        const r = await producer.send({ topic: job.topic, acks: -1, timeout: 10000, messages });
        out.sends.push(r.map((x) => ({ partition: x.partition, errorCode: x.errorCode,
                                        baseOffset: x.baseOffset })));
        for (const x of r) {
          const n = chunk.filter((m) => m.partition === x.partition).length;
          ends[x.partition] = Number(x.baseOffset) + n;
        }
      }
    } finally {
      await producer.disconnect();
    }
    // Offsets right after the acks, then (if they lag) until they cover them.
    out.offsetsFirst = await admin.fetchTopicOffsets(job.topic);
    out.offsets = out.offsetsFirst;
    const deadline = Date.now() + 5000;
    while (out.offsets.some((o) => Number(o.high) < (ends[o.partition] || 0)) &&
           Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      out.offsets = await admin.fetchTopicOffsets(job.topic);
    }
    const d = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: job.topic }],
      includeSynonyms: false,
    });
    out.configs = d.resources[0].configEntries.map((e) => [e.configName, e.configValue]);
    if (job.group) out.consumed = await consume(kafka, job);
  } finally {
    await admin.disconnect();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write('kafkajs_compat: ' + (e && e.stack ? e.stack : String(e)) + '\n');
  process.exit(1);
});
