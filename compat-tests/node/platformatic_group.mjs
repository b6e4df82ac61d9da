// @platformatic/kafka 1.x: same contract as kafkajs_group.mjs.
// Usage: node platformatic_group.mjs BOOTSTRAP TOPIC GROUP N PARTITIONS
import { Producer, Consumer, MessagesStreamModes, stringSerializers, stringDeserializers }
  from '@platformatic/kafka';

const [bootstrap, topic, group, nStr, partsStr] = process.argv.slice(2);
const N = Number(nStr), PARTS = Number(partsStr);
const deadline = setTimeout(() => { console.error('TIMEOUT'); process.exit(4); }, 90_000);

const producer = new Producer({ clientId: 'weir-platformatic', bootstrapBrokers: [bootstrap],
                                serializers: stringSerializers, acks: -1 });
const messages = [];
for (let i = 0; i < N; i++) {
  messages.push({ topic, partition: i % PARTS, key: `pk-key-${i}`,
                  value: i % 10 === 3 ? '' : `pk-value-${i}-` + 'y'.repeat(i % 50),
                  headers: { idx: String(i), src: 'platformatic' } });
}
const res = await producer.send({ messages });
await producer.close();

const consumer = new Consumer({ groupId: group, clientId: 'weir-platformatic-c',
                                bootstrapBrokers: [bootstrap], deserializers: stringDeserializers });
const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST,
                                        autocommit: false, sessionTimeout: 10000,
                                        heartbeatInterval: 500 });
const consumed = [];
for await (const m of stream) {
  const headers = {};
  for (const [k, v] of m.headers) headers[String(k)] = Buffer.from(String(v)).toString('hex');
  consumed.push({ partition: m.partition, offset: Number(m.offset), key: m.key, value: m.value, headers });
  await m.commit();
  if (consumed.length >= N) break;
}
await stream.close();
const committedMap = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...Array(PARTS).keys()] }] });
const committed = {};
(committedMap.get(topic) || []).forEach((o, p) => { committed[p] = Number(o); });
await consumer.close();
clearTimeout(deadline);
console.log(JSON.stringify({
  produced: (res.offsets || []).map(o => ({ partition: o.partition, baseOffset: Number(o.offset) })),
  consumed, committed,
}));
process.exit(0);
