import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Java kafka-clients security against Weir: TLS, SASL (PLAIN, SCRAM), the SCRAM credential
 * admin APIs and the ACL admin APIs. Every subcommand prints machine-checkable lines that
 * test_security_java.py compares exactly; an unexpected exception exits non-zero.
 *
 *   roundtrip  BOOTSTRAP PROPS TOPIC N
 *       creates TOPIC (1 partition), produces N records (acks=all, idempotent), reads them
 *       back with assign() from the beginning.
 *   bad-login  BOOTSTRAP PROPS TOPIC
 *       with credentials that do not authenticate: describeCluster, createTopics(TOPIC-new)
 *       and a send to TOPIC each fail; prints each failure's exception class.
 *   scram      BOOTSTRAP PROPS
 *       alter/describeUserScramCredentials for user javauser, logging in as javauser with
 *       each mechanism while its credential exists and failing once it is deleted.
 *   acls       BOOTSTRAP ADMIN_PROPS USER_PROPS
 *       the non-super user of USER_PROPS is refused the ACL APIs; then as admin
 *       createAcls, describeAcls (ANY and MATCH), deleteAcls, describeAcls.
 *   group-auth BOOTSTRAP ADMIN_PROPS USER_PROPS USER TOPIC GROUP N
 *       USER with Read on the TOPIC's prefix "java-" but not on GROUP: a group consumer gets
 *       GroupAuthorizationException; with Read on GROUP it consumes and commits.
 */
public class SecurityAdmin {
    static final long T = 30;
    static final String USER = "javauser";

    static void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void fail(String msg) {
        System.out.flush();
        System.err.println("ASSERTION FAILED: " + msg);
        System.exit(3);
    }

    static Throwable root(Throwable t) {
        while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** The class name of the exception `r` throws, or "none" when it succeeds. */
    static String error(ThrowingRunnable r) {
        try {
            r.run();
            return "none";
        } catch (Throwable t) {
            Throwable c = root(t);
            System.err.println("expected failure: " + c);
            return c.getClass().getName();
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static Properties load(String file, String bootstrap) throws Exception {
        Properties p = new Properties();
        try (InputStream in = new FileInputStream(file)) {
            p.load(in);
        }
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    static Properties scramLogin(Properties base, String mechanism, String user, String password) {
        Properties p = new Properties();
        p.putAll(base);
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
              + "username=\"" + user + "\" password=\"" + password + "\";");
        return p;
    }

    static KafkaProducer<String, String> producer(Properties base) {
        Properties p = new Properties();
        p.putAll(base);
        p.remove(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG);  // not a producer config
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(Properties base, String group) {
        Properties p = new Properties();
        p.putAll(base);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static List<ConsumerRecord<String, String>> pollUntil(KafkaConsumer<String, String> c, int n) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(T);
        while (got.size() < n) {
            if (System.nanoTime() > deadline) fail("consumed only " + got.size() + " of " + n + " records");
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(r);
        }
        return got;
    }

    static void produce(Properties base, String topic, int n, String prefix) throws Exception {
        try (KafkaProducer<String, String> prod = producer(base)) {
            for (int i = 0; i < n; i++) {
                RecordMetadata md = prod.send(new ProducerRecord<>(topic, 0, "k-" + i, prefix + i))
                    .get(T, TimeUnit.SECONDS);
                out("produced partition=" + md.partition() + " offset=" + md.offset() + " value=" + prefix + i);
            }
        }
    }

    static void createTopic(Admin admin, String topic) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(T, TimeUnit.SECONDS);
    }

    static int nodes(Properties p) throws Exception {
        try (Admin a = Admin.create(p)) {
            return a.describeCluster().nodes().get(T, TimeUnit.SECONDS).size();
        }
    }

    // ------------------------------------------------------------------------ roundtrip
    static void roundtrip(String bootstrap, String props, String topic, int n) throws Exception {
        Properties base = load(props, bootstrap);
        try (Admin admin = Admin.create(base)) {
            createTopic(admin, topic);
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames()
                .get(T, TimeUnit.SECONDS).get(topic);
            out("created topic=" + topic + " partitions=" + d.partitions().size());
        }
        produce(base, topic, n, "v-");
        try (KafkaConsumer<String, String> c = consumer(base, null)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            for (ConsumerRecord<String, String> r : pollUntil(c, n)) {
                out("consumed partition=" + r.partition() + " offset=" + r.offset() + " key=" + r.key()
                    + " value=" + r.value());
            }
            out("end_offset=" + c.endOffsets(List.of(tp), Duration.ofSeconds(T)).get(tp));
        }
    }

    // ------------------------------------------------------------------------ bad-login
    static void badLogin(String bootstrap, String props, String topic) throws Exception {
        Properties base = load(props, bootstrap);
        try (Admin admin = Admin.create(base)) {
            out("describeCluster=" + error(() -> admin.describeCluster().clusterId().get(T, TimeUnit.SECONDS)));
            out("createTopics=" + error(() -> createTopic(admin, topic + "-new")));
        }
        try (KafkaProducer<String, String> prod = producer(base)) {
            out("send=" + error(() -> prod.send(new ProducerRecord<>(topic, 0, "k", "must-not-arrive"))
                .get(T, TimeUnit.SECONDS)));
        }
    }

    // ------------------------------------------------------------------------ scram
    static String infos(UserScramCredentialsDescription d) {
        List<String> infos = new ArrayList<>();
        for (ScramCredentialInfo i : d.credentialInfos()) infos.add(i.mechanism() + ":" + i.iterations());
        Collections.sort(infos);
        return d.name() + " " + String.join(",", infos);
    }

    static String describeScram(Admin admin, String user) throws Exception {
        return error(() -> out("described " + infos(admin.describeUserScramCredentials(List.of(user))
            .description(user).get(T, TimeUnit.SECONDS))));
    }

    static void alter(Admin admin, UserScramCredentialAlteration a) throws Exception {
        admin.alterUserScramCredentials(List.of(a)).all().get(T, TimeUnit.SECONDS);
    }

    static void scram(String bootstrap, String props) throws Exception {
        Properties base = load(props, bootstrap);
        String pw512 = "java-pass-512", pw256 = "java-pass-256";
        Properties as512 = scramLogin(base, "SCRAM-SHA-512", USER, pw512);
        Properties as256 = scramLogin(base, "SCRAM-SHA-256", USER, pw256);
        try (Admin admin = Admin.create(base)) {
            out("describe_before=" + describeScram(admin, USER));
            out("login_before SCRAM-SHA-512=" + error(() -> nodes(as512)));
            alter(admin, new UserScramCredentialUpsertion(USER,
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), pw512));
            out("upserted SCRAM_SHA_512:4096");
            describeScram(admin, USER);
            alter(admin, new UserScramCredentialUpsertion(USER,
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), pw256));
            out("upserted SCRAM_SHA_256:8192");
            describeScram(admin, USER);
            // Two users named in one request, then no names: every user's credentials (the
            // client sends an empty list).
            Map<String, UserScramCredentialsDescription> two = new TreeMap<>(
                admin.describeUserScramCredentials(List.of(USER, "admin")).all().get(T, TimeUnit.SECONDS));
            for (UserScramCredentialsDescription d : two.values()) out("described " + infos(d));
            Map<String, UserScramCredentialsDescription> all = new TreeMap<>(
                admin.describeUserScramCredentials().all().get(T, TimeUnit.SECONDS));
            out("all count=" + all.size());
            for (UserScramCredentialsDescription d : all.values()) out("all " + infos(d));
            out("login SCRAM-SHA-512 nodes=" + nodes(as512));
            out("login SCRAM-SHA-256 nodes=" + nodes(as256));
            // Each mechanism has its own password: the other one does not log in.
            out("login SCRAM-SHA-512 with the SCRAM-SHA-256 password="
                + error(() -> nodes(scramLogin(base, "SCRAM-SHA-512", USER, pw256))));
            out("too_few_iterations=" + error(() -> alter(admin, new UserScramCredentialUpsertion(USER,
                new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 10), "x"))));
            alter(admin, new UserScramCredentialDeletion(USER, ScramMechanism.SCRAM_SHA_512));
            out("deleted SCRAM_SHA_512");
            describeScram(admin, USER);
            out("delete_again=" + error(() -> alter(admin,
                new UserScramCredentialDeletion(USER, ScramMechanism.SCRAM_SHA_512))));
            out("login_after SCRAM-SHA-512=" + error(() -> nodes(as512)));
            out("login_after SCRAM-SHA-256 nodes=" + nodes(as256));
        }
    }

    // ------------------------------------------------------------------------ acls
    static String fmt(AclBinding b) {
        ResourcePattern p = b.pattern();
        AccessControlEntry e = b.entry();
        return e.permissionType() + " " + e.principal() + "@" + e.host() + " " + e.operation() + " "
            + p.resourceType() + ":" + p.patternType() + ":" + p.name();
    }

    static List<String> sorted(Collection<AclBinding> bs) {
        List<String> out = new ArrayList<>();
        for (AclBinding b : bs) out.add(fmt(b));
        Collections.sort(out);
        return out;
    }

    static void printAcls(Admin admin, String label, AclBindingFilter f) throws Exception {
        List<String> got = sorted(admin.describeAcls(f).values().get(T, TimeUnit.SECONDS));
        out(label + " count=" + got.size());
        for (String s : got) out(label + " " + s);
    }

    static AclBinding acl(String principal, AclPermissionType perm, AclOperation op, ResourceType rt,
                          PatternType pt, String name) {
        return new AclBinding(new ResourcePattern(rt, name, pt), new AccessControlEntry(principal, "*", op, perm));
    }

    static void acls(String bootstrap, String adminProps, String userProps) throws Exception {
        Properties base = load(adminProps, bootstrap);
        Properties userBase = load(userProps, bootstrap);
        String u = "User:" + USER;
        List<AclBinding> bindings = List.of(
            acl(u, AclPermissionType.ALLOW, AclOperation.READ, ResourceType.TOPIC, PatternType.PREFIXED, "java-"),
            acl(u, AclPermissionType.DENY, AclOperation.WRITE, ResourceType.TOPIC, PatternType.LITERAL, "java-secret"),
            acl(u, AclPermissionType.ALLOW, AclOperation.READ, ResourceType.GROUP, PatternType.LITERAL, "java-group"),
            acl(u, AclPermissionType.ALLOW, AclOperation.WRITE, ResourceType.TOPIC, PatternType.LITERAL, "java-orders"),
            acl("User:auditor", AclPermissionType.ALLOW, AclOperation.DESCRIBE, ResourceType.TOPIC, PatternType.LITERAL, "*"));
        try (Admin user = Admin.create(userBase); Admin admin = Admin.create(base)) {
            // A non-super user without ACLs may not use the ACL APIs; nothing changes.
            out("user createAcls=" + error(() -> user.createAcls(bindings.subList(0, 1)).all().get(T, TimeUnit.SECONDS)));
            out("user describeAcls=" + error(() -> user.describeAcls(AclBindingFilter.ANY).values().get(T, TimeUnit.SECONDS)));
            out("user deleteAcls=" + error(() -> user.deleteAcls(List.of(AclBindingFilter.ANY)).all().get(T, TimeUnit.SECONDS)));
            printAcls(admin, "initial", AclBindingFilter.ANY);

            admin.createAcls(bindings).all().get(T, TimeUnit.SECONDS);
            out("created " + bindings.size());
            printAcls(admin, "any", AclBindingFilter.ANY);
            printAcls(admin, "match java-orders", new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, "java-orders", PatternType.MATCH),
                AccessControlEntryFilter.ANY));
            printAcls(admin, "match java-secret", new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, "java-secret", PatternType.MATCH),
                AccessControlEntryFilter.ANY));
            printAcls(admin, "principal auditor", new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter("User:auditor", null, AclOperation.ANY, AclPermissionType.ANY)));

            List<AclBindingFilter> filters = List.of(
                new AclBindingFilter(ResourcePatternFilter.ANY,
                    new AccessControlEntryFilter(u, null, AclOperation.ANY, AclPermissionType.DENY)),
                new AclBindingFilter(new ResourcePatternFilter(ResourceType.GROUP, null, PatternType.ANY),
                    AccessControlEntryFilter.ANY),
                new AclBindingFilter(new ResourcePatternFilter(ResourceType.TRANSACTIONAL_ID, null, PatternType.ANY),
                    AccessControlEntryFilter.ANY));
            Map<AclBindingFilter, KafkaFuture<DeleteAclsResult.FilterResults>> deleted =
                admin.deleteAcls(filters).values();
            for (int i = 0; i < filters.size(); i++) {
                List<AclBinding> bs = new ArrayList<>();
                for (DeleteAclsResult.FilterResult r : deleted.get(filters.get(i)).get(T, TimeUnit.SECONDS).values()) {
                    if (r.exception() != null) fail("delete filter " + i + ": " + r.exception());
                    bs.add(r.binding());
                }
                List<String> s = sorted(bs);
                out("deleted[" + i + "] count=" + s.size());
                for (String b : s) out("deleted[" + i + "] " + b);
            }
            printAcls(admin, "after", AclBindingFilter.ANY);
        }
    }

    // ------------------------------------------------------------------------ group-auth
    static Map<String, Long> committed(Admin admin, String group) throws Exception {
        Map<String, Long> m = new TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : admin.listConsumerGroupOffsets(group)
                 .partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS).entrySet()) {
            if (e.getValue() != null) m.put(e.getKey().toString(), e.getValue().offset());
        }
        return m;
    }

    static void groupAuth(String bootstrap, String adminProps, String userProps, String user, String topic,
                          String group, int n) throws Exception {
        Properties base = load(adminProps, bootstrap);
        Properties userBase = load(userProps, bootstrap);
        String u = "User:" + user;
        try (Admin admin = Admin.create(base)) {
            createTopic(admin, topic);
            produce(base, topic, n, "g-");
            admin.createAcls(List.of(acl(u, AclPermissionType.ALLOW, AclOperation.READ, ResourceType.TOPIC,
                PatternType.PREFIXED, "java-"))).all().get(T, TimeUnit.SECONDS);
            out("granted READ TOPIC:PREFIXED:java-");

            try (KafkaConsumer<String, String> c = consumer(userBase, group)) {
                c.subscribe(List.of(topic));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(T);
                int consumed = 0;
                GroupAuthorizationException denied = null;
                while (denied == null && System.nanoTime() < deadline) {
                    try {
                        consumed += c.poll(Duration.ofMillis(200)).count();
                    } catch (GroupAuthorizationException e) {
                        denied = e;
                    }
                }
                out("without group ACL: consumed=" + consumed + " error="
                    + (denied == null ? "none" : denied.getClass().getName() + " group=" + denied.groupId()));
            }
            out("committed_before=" + committed(admin, group));

            admin.createAcls(List.of(acl(u, AclPermissionType.ALLOW, AclOperation.READ, ResourceType.GROUP,
                PatternType.LITERAL, group))).all().get(T, TimeUnit.SECONDS);
            out("granted READ GROUP:LITERAL:" + group);
            try (KafkaConsumer<String, String> c = consumer(userBase, group)) {
                c.subscribe(List.of(topic));
                for (ConsumerRecord<String, String> r : pollUntil(c, n)) {
                    out("consumed partition=" + r.partition() + " offset=" + r.offset() + " value=" + r.value());
                }
                c.commitSync(Duration.ofSeconds(T));
                out("committed by the consumer");
            }
            out("committed_after=" + committed(admin, group));
        }
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "roundtrip": roundtrip(args[1], args[2], args[3], Integer.parseInt(args[4])); break;
            case "bad-login": badLogin(args[1], args[2], args[3]); break;
            case "scram": scram(args[1], args[2]); break;
            case "acls": acls(args[1], args[2], args[3]); break;
            case "group-auth":
                groupAuth(args[1], args[2], args[3], args[4], args[5], args[6], Integer.parseInt(args[7]));
                break;
            default: fail("unknown subcommand " + args[0]);
        }
        out("OK");
    }
}
