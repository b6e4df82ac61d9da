import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One member of a consumer group (subscribe), driven by the test over stdin/stdout.
 *
 * Usage: GroupConsumer BOOTSTRAP TOPIC GROUP STRATEGY(range|cooperative-sticky) MODE [N]
 *   MODE run    : consume until a line "close" arrives on stdin, then close() (LeaveGroup)
 *   MODE resume : consume until N records were received, then close()
 *
 * Every processed record is printed as "REC partition offset value" BEFORE the commitSync
 * that covers it (at-least-once); "OWNED p,p,.." whenever the assignment changes;
 * "COMMITTED" after each successful commitSync, "COMMITFAIL reason" when a commit is
 * refused during a rebalance; "CLOSED" at the end.
 */
public class GroupConsumer {
    static synchronized void out(String s) {
        System.out.println(s);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2], strategy = args[3], mode = args[4];
        int want = args.length > 5 ? Integer.parseInt(args[5]) : -1;
        long paceMs = Long.parseLong(System.getProperty("weir.paceMs", "5"));

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "gc-" + ProcessHandle.current().pid());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10");
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
              strategy.equals("cooperative-sticky") ? CooperativeStickyAssignor.class.getName()
                                                    : RangeAssignor.class.getName());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        AtomicBoolean closeRequested = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.trim().equals("close")) closeRequested.set(true);
                }
            } catch (Exception ignored) {
            }
        });
        stdin.setDaemon(true);
        stdin.start();

        int received = 0;
        String lastOwned = null;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(topic));
            out("STARTED");
            while (!closeRequested.get() && (want < 0 || received < want)) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(100));
                String owned = ownedString(c.assignment());
                if (!owned.equals(lastOwned)) {
                    out("OWNED " + owned);
                    lastOwned = owned;
                }
                if (recs.isEmpty()) continue;
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    String v = r.value() == null ? "<null>" : new String(r.value(), StandardCharsets.UTF_8);
                    out("REC " + r.partition() + " " + r.offset() + " " + v);
                    received++;
                }
                if (paceMs > 0) Thread.sleep(paceMs * recs.count());
                try {
                    c.commitSync(Duration.ofSeconds(30));
                    out("COMMITTED");
                } catch (CommitFailedException | RebalanceInProgressException e) {
                    out("COMMITFAIL " + e.getClass().getSimpleName());
                }
            }
            out("CLOSING");
        }
        out("CLOSED");
        System.exit(0);
    }

    static String ownedString(Set<TopicPartition> tps) {
        List<Integer> ps = new ArrayList<>();
        for (TopicPartition tp : tps) ps.add(tp.partition());
        Collections.sort(ps);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ps.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append(ps.get(i));
        }
        return sb.toString();
    }
}
