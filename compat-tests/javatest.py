"""Compiling and running the Java client programs in compat-tests/java against the
kafka-clients jars that scripts/install-test-deps.sh puts in $WEIR_JARS."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import COMPAT

JARS = Path(os.environ.get("WEIR_JARS", Path.home() / ".cache" / "weir" / "jars"))
SRC = COMPAT / "java"


def classpath(*extra) -> str:
    jars = sorted(str(j) for j in JARS.glob("*.jar"))
    return os.pathsep.join([*map(str, extra), *jars])


def compile_java(build: Path, sources: list[Path]) -> Path:
    """javac `sources` into `build`; fails (never skips) when Java or the jars are missing."""
    assert shutil.which("javac"), "javac missing (scripts/install-test-deps.sh installs a JDK)"
    assert list(JARS.glob("kafka-clients*.jar")), f"kafka-clients jar missing in {JARS} (scripts/install-test-deps.sh)"
    build.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["javac", "-d", str(build), "-cp", classpath(), *map(str, sources)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert p.returncode == 0, p.stdout.decode()
    return build
