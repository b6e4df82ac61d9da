import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Drives Weir with Java kafka-clients: AdminClient, a default-settings KafkaProducer
 * (idempotent, acks=all) and an assign()-based KafkaConsumer. Asserts exact values and exits
 * non-zero with a message on the first mismatch; prints "RESULT key=value" lines and "OK".
 *
 * Usage: WeirCompat BOOTSTRAP TOPIC N COMPRESSION
 */
public class WeirCompat {
    // A whole hour shortly before now: inside the default retention (7 days).
    static final long BASE_TS = (System.currentTimeMillis() / 3_600_000L - 1) * 3_600_000L;
    static final long TIMEOUT_S = 60;

    static void check(boolean cond, String msg) {
        if (!cond) {
            System.err.println("ASSERTION FAILED: " + msg);
            System.out.flush();
            System.exit(3);
        }
    }

    static void eq(Object got, Object want, String what) {
        check(Objects.equals(got, want), what + ": got <" + got + "> want <" + want + ">");
    }

    static void result(String k, Object v) {
        System.out.println("RESULT " + k + "=" + v);
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] keyOf(int i) {
        return i % 10 == 0 ? null : b("key-" + i);
    }

    static byte[] valueOf(int i) {
        if (i % 17 == 5) return null;
        StringBuilder sb = new StringBuilder("value-" + i + "-");
        for (int j = 0; j < i % 64; j++) sb.append((char) ('a' + (j % 26)));
        return b(sb.toString());
    }

    static List<Header> headersOf(int i) {
        List<Header> h = new ArrayList<>();
        if (i % 9 == 0) return h;
        h.add(new RecordHeader("h", b("1")));
        h.add(new RecordHeader("h", b("2")));
        h.add(new RecordHeader("x", new byte[] {0, (byte) 0xff}));
        h.add(new RecordHeader("i", b(Integer.toString(i))));
        if (i % 4 == 1) h.add(new RecordHeader("nul", null));
        return h;
    }

    static String hdrString(Iterable<Header> hs) {
        StringBuilder sb = new StringBuilder("[");
        for (Header h : hs) {
            sb.append(h.key()).append('=')
              .append(h.value() == null ? "null" : Arrays.toString(h.value())).append(';');
        }
        return sb.append(']').toString();
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        int n = Integer.parseInt(args[2]);
        String compression = args.length > 3 ? args[3] : "none";
        int parts = 3;

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        try (Admin admin = Admin.create(ap)) {
            // ---------------------------------------------------------- cluster
            DescribeClusterResult dc = admin.describeCluster();
            Collection<Node> nodes = dc.nodes().get(TIMEOUT_S, TimeUnit.SECONDS);
            eq(nodes.size(), 1, "cluster node count");
            Node node = nodes.iterator().next();
            eq(node.id(), 1, "node id");
            eq(node.host() + ":" + node.port(), bootstrap, "node address");
            eq(dc.controller().get(TIMEOUT_S, TimeUnit.SECONDS).id(), 1, "controller id");
            check(dc.clusterId().get(TIMEOUT_S, TimeUnit.SECONDS) != null, "cluster id is null");
            result("cluster_nodes", 1);

            // ---------------------------------------------------------- create + describe
            Map<String, String> cfg = new HashMap<>();
            cfg.put("retention.ms", "604800000");
            cfg.put("max.message.bytes", "3000000");
            admin.createTopics(List.of(new NewTopic(topic, parts, (short) 1).configs(cfg)))
                 .all().get(TIMEOUT_S, TimeUnit.SECONDS);
            TopicDescription td = admin.describeTopics(List.of(topic)).allTopicNames()
                                       .get(TIMEOUT_S, TimeUnit.SECONDS).get(topic);
            eq(td.partitions().size(), parts, "partitions after create");
            check(td.topicId() != null && !td.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"),
                  "topic id missing: " + td.topicId());
            for (int p = 0; p < parts; p++) {
                eq(td.partitions().get(p).partition(), p, "partition index");
                eq(td.partitions().get(p).leader().id(), 1, "leader of " + p);
            }
            result("partitions", td.partitions().size());

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config c = admin.describeConfigs(List.of(res)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(res);
            eq(c.get("retention.ms").value(), "604800000", "retention.ms");
            eq(c.get("retention.ms").source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source");
            eq(c.get("max.message.bytes").value(), "3000000", "max.message.bytes");
            eq(c.get("segment.bytes").value(), "1073741824", "segment.bytes default");
            eq(c.get("segment.bytes").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "segment.bytes source");
            eq(c.get("cleanup.policy").value(), "delete", "cleanup.policy default");

            // ---------------------------------------------------------- incremental alter
            admin.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "12345678"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", null), AlterConfigOp.OpType.DELETE))))
                 .all().get(TIMEOUT_S, TimeUnit.SECONDS);
            c = admin.describeConfigs(List.of(res)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(res);
            eq(c.get("retention.ms").value(), "12345678", "retention.ms after incrementalAlterConfigs");
            eq(c.get("max.message.bytes").value(), "1048588", "max.message.bytes after DELETE (default)");
            eq(c.get("max.message.bytes").source(), ConfigEntry.ConfigSource.DEFAULT_CONFIG, "max.message.bytes source after DELETE");
            result("retention.ms", c.get("retention.ms").value());

            // ---------------------------------------------------------- produce (defaults)
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
            List<Future<RecordMetadata>> futs = new ArrayList<>();
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
                for (int i = 0; i < n; i++) {
                    futs.add(producer.send(new ProducerRecord<>(topic, i % parts, BASE_TS + i,
                                                                 keyOf(i), valueOf(i), headersOf(i))));
                }
                producer.flush();
                for (int i = 0; i < n; i++) {
                    RecordMetadata md = futs.get(i).get(TIMEOUT_S, TimeUnit.SECONDS);
                    eq(md.partition(), i % parts, "partition of record " + i);
                    eq(md.offset(), (long) (i / parts), "offset of record " + i);
                    eq(md.timestamp(), BASE_TS + i, "acked timestamp of record " + i);
                }
            }
            long[] count = new long[parts];
            for (int i = 0; i < n; i++) count[i % parts]++;
            result("produced", n);

            // ---------------------------------------------------------- list offsets
            Map<TopicPartition, OffsetSpec> earliest = new HashMap<>(), latest = new HashMap<>(),
                    byTs = new HashMap<>(), maxTs = new HashMap<>();
            for (int p = 0; p < parts; p++) {
                TopicPartition tp = new TopicPartition(topic, p);
                earliest.put(tp, OffsetSpec.earliest());
                latest.put(tp, OffsetSpec.latest());
                // record i = 3*k + p has ts BASE_TS + i; query ts of record with k = 5 minus 1
                byTs.put(tp, OffsetSpec.forTimestamp(BASE_TS + 3L * 5 + p - 1));
                maxTs.put(tp, OffsetSpec.maxTimestamp());
            }
            var e = admin.listOffsets(earliest).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            var l = admin.listOffsets(latest).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            var t = admin.listOffsets(byTs).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            var m = admin.listOffsets(maxTs).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            for (int p = 0; p < parts; p++) {
                TopicPartition tp = new TopicPartition(topic, p);
                eq(e.get(tp).offset(), 0L, "earliest " + p);
                eq(l.get(tp).offset(), count[p], "latest " + p);
                eq(t.get(tp).offset(), 5L, "forTimestamp " + p);
                eq(t.get(tp).timestamp(), BASE_TS + 3L * 5 + p, "forTimestamp ts " + p);
                eq(m.get(tp).offset(), count[p] - 1, "maxTimestamp offset " + p);
                eq(m.get(tp).timestamp(), BASE_TS + 3L * (count[p] - 1) + p, "maxTimestamp ts " + p);
            }
            result("latest0", l.get(new TopicPartition(topic, 0)).offset());

            // ---------------------------------------------------------- delete records
            TopicPartition tp0 = new TopicPartition(topic, 0);
            DeletedRecords dr = admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(10)))
                                     .lowWatermarks().get(tp0).get(TIMEOUT_S, TimeUnit.SECONDS);
            eq(dr.lowWatermark(), 10L, "low watermark after deleteRecords");
            e = admin.listOffsets(Map.of(tp0, OffsetSpec.earliest())).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            eq(e.get(tp0).offset(), 10L, "earliest after deleteRecords");
            result("earliest0_after_delete", e.get(tp0).offset());

            // ---------------------------------------------------------- consume (assign)
            Properties cp = new Properties();
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
            int consumed = 0;
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
                List<TopicPartition> tps = new ArrayList<>();
                for (int p = 0; p < parts; p++) tps.add(new TopicPartition(topic, p));
                consumer.assign(tps);
                consumer.seekToBeginning(tps);
                long[] next = new long[parts];
                next[0] = 10;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
                while (true) {
                    boolean done = true;
                    for (int p = 0; p < parts; p++) if (next[p] < count[p]) done = false;
                    if (done) break;
                    check(System.nanoTime() < deadline, "consume timed out at " + Arrays.toString(next));
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                        int p = r.partition();
                        eq(r.offset(), next[p], "next offset in partition " + p);
                        int i = (int) (r.offset() * parts + p);
                        check(Arrays.equals(r.key(), keyOf(i)), "key of record " + i);
                        check(Arrays.equals(r.value(), valueOf(i)), "value of record " + i);
                        eq(hdrString(r.headers()), hdrString(headersOf(i)), "headers of record " + i);
                        eq(r.timestamp(), BASE_TS + i, "timestamp of record " + i);
                        eq(r.timestampType(), TimestampType.CREATE_TIME, "timestamp type of record " + i);
                        next[p]++;
                        consumed++;
                    }
                }
                for (int p = 0; p < parts; p++) eq(consumer.position(tps.get(p)), count[p], "final position " + p);
            }
            eq(consumed, n - 10, "records consumed");
            result("consumed", consumed);

            // ---------------------------------------------------------- create partitions
            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            td = admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS).get(topic);
            eq(td.partitions().size(), 5, "partitions after createPartitions");
            result("partitions_after", td.partitions().size());

            // ---------------------------------------------------------- list + delete topic
            check(admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(topic), "topic not listed");
            admin.deleteTopics(List.of(topic)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            check(!admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(topic), "deleted topic still listed");
            result("deleted", true);
        }
        System.out.println("OK");
        System.exit(0);
    }
}
