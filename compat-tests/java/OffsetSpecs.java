// Prints what AdminClient.listOffsets answers for one partition, one "spec offset" line per
// OffsetSpec: earliest, earliestLocal, latestTiered, latest (then END). earliestLocal needs
// ListOffsets v8 and latestTiered v9 (KIP-1005); the client refuses them against a broker
// that does not advertise those versions.

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;

public class OffsetSpecs {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        TopicPartition tp = new TopicPartition(args[1], Integer.parseInt(args[2]));
        Map<String, OffsetSpec> specs = new LinkedHashMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("earliestLocal", OffsetSpec.earliestLocal());
        specs.put("latestTiered", OffsetSpec.latestTiered());
        specs.put("latest", OffsetSpec.latest());
        try (Admin admin = Admin.create(props)) {
            for (Map.Entry<String, OffsetSpec> e : specs.entrySet()) {
                long offset = admin.listOffsets(Map.of(tp, e.getValue())).partitionResult(tp).get().offset();
                System.out.println(e.getKey() + " " + offset);
            }
        }
        System.out.println("END");
    }
}
