import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ConsumerGroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * AdminClient group operations against Weir with exact assertions:
 * listConsumerGroups, describeConsumerGroups (state, members, assignment),
 * listConsumerGroupOffsets, alterConsumerGroupOffsets, deleteConsumerGroupOffsets,
 * deleteConsumerGroups (GroupNotEmptyException while a member is active).
 *
 * Usage: GroupAdmin BOOTSTRAP TOPIC GROUP    (prints "STEP ..." lines and "OK")
 */
public class GroupAdmin {
    static final long T = 60;

    static void check(boolean cond, String msg) {
        if (!cond) {
            System.out.flush();
            System.err.println("ASSERTION FAILED: " + msg);
            System.exit(3);
        }
    }

    static void eq(Object got, Object want, String what) {
        check(Objects.equals(got, want), what + ": got <" + got + "> want <" + want + ">");
    }

    static void step(String s) {
        System.out.println("STEP " + s);
        System.out.flush();
    }

    static Map<TopicPartition, Long> offsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS);
        Map<TopicPartition, Long> out = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            if (e.getValue() != null) out.put(e.getKey(), e.getValue().offset());
        }
        return out;
    }

    static Map<TopicPartition, Long> tpMap(String topic, long... kv) {
        Map<TopicPartition, Long> m = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        for (int i = 0; i < kv.length; i += 2) m.put(new TopicPartition(topic, (int) kv[i]), kv[i + 1]);
        return m;
    }

    static Set<String> groupIds(Admin admin) throws Exception {
        Set<String> ids = new TreeSet<>();
        for (ConsumerGroupListing l : admin.listConsumerGroups().all().get(T, TimeUnit.SECONDS)) ids.add(l.groupId());
        return ids;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2];
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(T, TimeUnit.SECONDS);
            step("topic created");

            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(pp)) {
                for (int i = 0; i < 30; i++) {
                    prod.send(new ProducerRecord<>(topic, i % 3, null, ("v" + i).getBytes(StandardCharsets.UTF_8)))
                        .get(T, TimeUnit.SECONDS);
                }
            }
            step("produced 30 (10 per partition)");

            Properties cp = new Properties();
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "admin-test-consumer");
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp);
            c.subscribe(List.of(topic));
            int n = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(T);
            while (n < 30) {
                check(System.nanoTime() < deadline, "consumed only " + n + " of 30 records");
                n += c.poll(Duration.ofMillis(200)).count();
            }
            eq(n, 30, "records consumed by the group member");
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            commit.put(new TopicPartition(topic, 0), new OffsetAndMetadata(5, "meta-p0"));
            commit.put(new TopicPartition(topic, 1), new OffsetAndMetadata(7));
            commit.put(new TopicPartition(topic, 2), new OffsetAndMetadata(10));
            c.commitSync(commit, Duration.ofSeconds(T));
            step("member committed {0:5, 1:7, 2:10}");

            check(groupIds(admin).contains(group), "listConsumerGroups lacks " + group + ": " + groupIds(admin));
            boolean foundStable = false;
            for (ConsumerGroupListing l : admin.listConsumerGroups().all().get(T, TimeUnit.SECONDS)) {
                if (l.groupId().equals(group)) {
                    eq(l.state().orElse(null), ConsumerGroupState.STABLE, "listed state");
                    check(!l.isSimpleConsumerGroup(), "a subscribed group is not a simple group");
                    foundStable = true;
                }
            }
            check(foundStable, "group listed");
            step("listConsumerGroups ok");

            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).describedGroups()
                .get(group).get(T, TimeUnit.SECONDS);
            eq(d.groupId(), group, "described group id");
            eq(d.state(), ConsumerGroupState.STABLE, "described state");
            eq(d.partitionAssignor(), "range", "partition assignor (protocol)");
            eq(d.isSimpleConsumerGroup(), false, "simple");
            eq(d.members().size(), 1, "member count");
            MemberDescription m = d.members().iterator().next();
            eq(m.clientId(), "admin-test-consumer", "member client id");
            check(m.consumerId() != null && !m.consumerId().isEmpty(), "member id");
            check(m.host() != null && !m.host().isEmpty(), "member host");
            Set<TopicPartition> want = new HashSet<>();
            for (int i = 0; i < 3; i++) want.add(new TopicPartition(topic, i));
            eq(m.assignment().topicPartitions(), want, "member assignment");
            eq(d.coordinator().id(), 1, "coordinator node id");
            step("describeConsumerGroups ok");

            eq(offsets(admin, group), tpMap(topic, 0, 5, 1, 7, 2, 10), "listConsumerGroupOffsets");
            OffsetAndMetadata om = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(T, TimeUnit.SECONDS).get(new TopicPartition(topic, 0));
            eq(om.metadata(), "meta-p0", "committed metadata");
            step("listConsumerGroupOffsets ok");

            // Not allowed while the group has an active member.
            try {
                admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS);
                check(false, "deleteConsumerGroups of a group with an active member succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof GroupNotEmptyException,
                      "delete active group: want GroupNotEmptyException, got " + e.getCause());
            }
            try {
                admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(1)))
                    .all().get(T, TimeUnit.SECONDS);
                check(false, "alterConsumerGroupOffsets of a group with an active member succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof UnknownMemberIdException,
                      "alter offsets of an active group: want UnknownMemberIdException, got " + e.getCause());
            }
            eq(offsets(admin, group), tpMap(topic, 0, 5, 1, 7, 2, 10), "offsets unchanged by refused calls");
            step("active group refuses delete and alter");

            c.close(Duration.ofSeconds(T));
            d = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(T, TimeUnit.SECONDS);
            eq(d.state(), ConsumerGroupState.EMPTY, "state after the member left");
            eq(d.members().size(), 0, "members after leave");
            step("member left; group Empty");

            admin.alterConsumerGroupOffsets(group, Map.of(
                new TopicPartition(topic, 0), new OffsetAndMetadata(1),
                new TopicPartition(topic, 1), new OffsetAndMetadata(2, "altered")))
                .all().get(T, TimeUnit.SECONDS);
            eq(offsets(admin, group), tpMap(topic, 0, 1, 1, 2, 2, 10), "offsets after alter");
            eq(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS)
                   .get(new TopicPartition(topic, 1)).metadata(), "altered", "altered metadata");
            step("alterConsumerGroupOffsets ok");

            admin.deleteConsumerGroupOffsets(group, Set.of(new TopicPartition(topic, 2)))
                .all().get(T, TimeUnit.SECONDS);
            eq(offsets(admin, group), tpMap(topic, 0, 1, 1, 2), "offsets after deleteConsumerGroupOffsets");
            step("deleteConsumerGroupOffsets ok");

            admin.deleteConsumerGroups(List.of(group)).all().get(T, TimeUnit.SECONDS);
            check(!groupIds(admin).contains(group), "group still listed after delete: " + groupIds(admin));
            eq(offsets(admin, group), tpMap(topic), "offsets after deleteConsumerGroups");
            step("deleteConsumerGroups ok");
        }
        System.out.println("OK");
        System.exit(0);
    }
}
