"""Root conftest.py of the scratch kafka-python test tree that
compat-tests/test_kafka_python_suite.py builds (installed there as `conftest.py`).

The fixtures themselves are kafka-python's (test/integration/conftest.py from the sdist,
unmodified) over weir_fixtures.KafkaFixture; this only adds Weir's side to reports: the
binary in the header, and the broker log tail on every failing test.
"""

import os

import pytest


def pytest_report_header(config):
    return "weir: WEIR_BIN=%s KAFKA_VERSION=%s" % (os.environ.get("WEIR_BIN", "(default)"),
                                                  os.environ.get("KAFKA_VERSION"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    from test.integration.fixtures import KafkaFixture
    # The brokers up when the test failed, else the one that failed to start.
    for fixture in [f for f in KafkaFixture.started if f.running] or KafkaFixture.started[-1:]:
        if fixture.weir is not None:
            report.sections.append(("weir %s:%d (%s)" % (fixture.transport, fixture.port,
                                                         fixture.sasl_mechanism or "-"),
                                    fixture.weir.log_tail(200)))
