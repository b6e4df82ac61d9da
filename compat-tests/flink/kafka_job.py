"""PyFlink 2.0 Table API jobs against a Kafka-compatible broker (run with the Flink venv's
python as a subprocess by test_flink.py; a local mini-cluster, parallelism 1).

  kafka_job.py source SPEC_JSON   read a topic from the earliest offsets up to the latest
                                  offsets at start (bounded), print "ROW <json>" per row;
                                  with "bounded": false and "expect": N, print ROWS_DONE after
                                  N rows and keep running (checkpoints commit the group
                                  offsets) until a line arrives on stdin
  kafka_job.py sink SPEC_JSON     write SPEC["rows"] with the Kafka sink (at-least-once)
  kafka_job.py aggregate SPEC_JSON  read a debezium-json changelog (columns `category STRING,
                                  amount BIGINT`) bounded to the latest offsets and print
                                  every result row of SUM(amount) GROUP BY category as
                                  "AGG <json>" with its row kind (+I, -U, +U, -D)

SPEC_JSON: {"bootstrap", "topic", "jars": [paths], "format": "json"|"raw",
            "group": group id (source), "rows": [...] (sink)}
Prints "DONE" at the end.
"""

import json
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def table_env(spec):
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("pipeline.jars", ";".join("file://" + j for j in spec["jars"]))
    conf.set("parallelism.default", "1")
    conf.set("execution.checkpointing.interval", "500ms")
    conf.set("table.exec.resource.default-parallelism", "1")
    return t_env


def ddl_columns(fmt):
    if fmt == "raw":
        return "v STRING"
    return "id INT, name STRING, price DOUBLE, tags ARRAY<STRING>"


def source(spec):
    t_env = table_env(spec)
    fmt = spec["format"]
    t_env.execute_sql(f"""
        CREATE TABLE src ({ddl_columns(fmt)}, `partition` INT METADATA VIRTUAL,
                          `offset` BIGINT METADATA VIRTUAL)
        WITH (
          'connector' = 'kafka',
          'topic' = '{spec["topic"]}',
          'properties.bootstrap.servers' = '{spec["bootstrap"]}',
          'properties.group.id' = '{spec["group"]}',
          'properties.commit.offsets.on.checkpoint' = 'true',
          'scan.startup.mode' = 'earliest-offset',
          {"'scan.bounded.mode' = 'latest-offset'," if spec.get("bounded", True) else ""}
          'format' = '{fmt}'
        )""")
    expect = spec.get("expect")
    seen = 0
    with t_env.execute_sql("SELECT * FROM src").collect() as results:
        for row in results:
            seen += 1
            vals = list(row)
            if fmt == "raw":
                d = {"v": vals[0], "partition": vals[1], "offset": vals[2]}
            else:
                d = {"id": vals[0], "name": vals[1], "price": vals[2],
                     "tags": None if vals[3] is None else list(vals[3]),
                     "partition": vals[4], "offset": vals[5]}
            print("ROW " + json.dumps(d), flush=True)
            if expect is not None and seen >= expect:
                # Unbounded: keep the job (and its checkpoints, which commit the group
                # offsets) running until the test has seen the commits; then cancel.
                print("ROWS_DONE", flush=True)
                sys.stdin.readline()
                break


def aggregate(spec):
    t_env = table_env(spec)
    t_env.execute_sql(f"""
        CREATE TABLE changes (category STRING, amount BIGINT)
        WITH (
          'connector' = 'kafka',
          'topic' = '{spec["topic"]}',
          'properties.bootstrap.servers' = '{spec["bootstrap"]}',
          'properties.group.id' = '{spec["group"]}',
          'scan.startup.mode' = 'earliest-offset',
          'scan.bounded.mode' = 'latest-offset',
          'format' = 'debezium-json'
        )""")
    query = "SELECT category, SUM(amount) AS total FROM changes GROUP BY category"
    with t_env.execute_sql(query).collect() as results:
        for row in results:
            kind = str(row.get_row_kind())  # "+I", "-U", "+U" or "-D"
            vals = list(row)
            print("AGG " + json.dumps({"kind": kind, "category": vals[0], "total": vals[1]}),
                  flush=True)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def sink(spec):
    t_env = table_env(spec)
    t_env.execute_sql(f"""
        CREATE TABLE snk (id INT, name STRING, price DOUBLE)
        WITH (
          'connector' = 'kafka',
          'topic' = '{spec["topic"]}',
          'properties.bootstrap.servers' = '{spec["bootstrap"]}',
          'sink.delivery-guarantee' = 'at-least-once',
          'sink.partitioner' = 'fixed',
          'format' = 'json'
        )""")
    values = ", ".join(f"({r['id']}, {sql_str(r['name'])}, CAST({r['price']!r} AS DOUBLE))"
                       for r in spec["rows"])
    t_env.execute_sql(f"INSERT INTO snk VALUES {values}").wait()


if __name__ == "__main__":
    mode, spec = sys.argv[1], json.loads(sys.argv[2])
    {"source": source, "sink": sink, "aggregate": aggregate}[mode](spec)
    print("DONE", flush=True)
