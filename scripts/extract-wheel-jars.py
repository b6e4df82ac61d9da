"""Copy the jars matching each pattern out of a Python wheel (a zip), e.g. the Kafka and
Flink jars bundled in shigawire-apache-flink-libraries.

    python extract-wheel-jars.py WHEEL OUTDIR LABEL=REGEX [LABEL=REGEX ...]

Every pattern must match at least one jar; files are replaced atomically.
"""

import os
import re
import sys
import zipfile


def main(argv: list[str]) -> None:
    whl, out, specs = argv[1], argv[2], argv[3:]
    want = [(label, re.compile(rx)) for label, rx in (s.split("=", 1) for s in specs)]
    with zipfile.ZipFile(whl) as z:
        names = [n for n in z.namelist() if n.endswith(".jar")]
        for label, rx in want:
            hits = [n for n in names if rx.search(n)]
            if not hits:
                sys.exit(f"no {label} jar in {whl}; jars: {names}")
            for n in hits:
                dest = os.path.join(out, os.path.basename(n))
                with z.open(n) as src, open(dest + ".tmp", "wb") as dst:
                    dst.write(src.read())
                os.replace(dest + ".tmp", dest)
                print(f"  {n} -> {dest}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
