// kafkajs 2.2.4: produce N records (explicit partitions, keys, values, headers), then a
// group consumer (subscribe, fromBeginning) reads them all and commits; prints one JSON
// document: {produced: [...], consumed: [...], committed: {...}}.
// Usage: node kafkajs_group.mjs BOOTSTRAP TOPIC GROUP N PARTITIONS
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const [bootstrap, topic, group, nStr, partsStr] = process.argv.slice(2);
const N = Number(nStr), PARTS = Number(partsStr);
const deadline = setTimeout(() => { console.error('TIMEOUT'); process.exit(4); }, 90_000);

const kafka = new Kafka({ clientId: 'weir-kafkajs', brokers: [bootstrap], logLevel: logLevel.WARN,
                          retry: { retries: 5 } });

const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const messages = [];
for (let i = 0; i < N; i++) {
  messages.push({
    partition: i % PARTS,
    key: `kjs-key-${i}`,
    value: i % 10 === 3 ? '' : `kjs-value-${i}-` + 'x'.repeat(i % 50),
    headers: { idx: String(i), src: 'kafkajs', bin: Buffer.from([0, 255, i % 256]) },
  });
}
const meta = await producer.send({ topic, acks: -1, messages });
await producer.disconnect();

const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
const consumed = [];
let resolveDone;
const done = new Promise(r => { resolveDone = r; });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    const headers = {};
    for (const [k, v] of Object.entries(message.headers || {})) headers[k] = Buffer.from(v).toString('hex');
    consumed.push({ partition, offset: Number(message.offset), key: message.key.toString(),
                    value: message.value.toString(), headers });
    if (consumed.length >= N) resolveDone();
  },
});
await done;
await consumer.stop();
await consumer.disconnect();

const admin = kafka.admin();
await admin.connect();
const committed = {};
for (const t of await admin.fetchOffsets({ groupId: group, topics: [topic] })) {
  for (const p of t.partitions) committed[p.partition] = Number(p.offset);
}
const groups = (await admin.listGroups()).groups.map(g => g.groupId);
const desc = (await admin.describeGroups([group])).groups[0];
await admin.disconnect();
clearTimeout(deadline);
console.log(JSON.stringify({
  produced: meta.map(m => ({ partition: m.partition, baseOffset: Number(m.baseOffset), errorCode: m.errorCode })),
  consumed, committed, listed: groups.includes(group), state: desc.state, members: desc.members.length,
}));
process.exit(0);
