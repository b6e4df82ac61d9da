"""The README's context-store example (the ```python block after `<!-- context-store-example
-->`), run unchanged against a fresh broker: WEIR_HTTP and WEIR_BOOTSTRAP point it there. The
block asserts its own results; this test checks a few more facts about what it left behind."""

from __future__ import annotations

from pathlib import Path

import polars as pl

MARKER = "<!-- context-store-example -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    assert text.count(MARKER) == 1, f"{MARKER} must appear exactly once in README.md"
    after = text.split(MARKER, 1)[1]
    assert after.lstrip().startswith("```python\n"), "the marker must be followed by a python block"
    return after.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_readme_context_example_runs(broker, monkeypatch, capsys):
    code = readme_example()
    for var in ("WEIR_HTTP", "WEIR_BOOTSTRAP"):
        assert f'os.environ.get("{var}"' in code, f"the example must read {var}"
    monkeypatch.setenv("WEIR_HTTP", broker.http)
    monkeypatch.setenv("WEIR_BOOTSTRAP", broker.bootstrap)
    ns: dict = {"__name__": "readme_context_example"}
    exec(compile(code, f"README.md ({MARKER})", "exec"), ns)

    df, snap = ns["df"], ns["snapshot"]
    assert isinstance(df, pl.DataFrame) and isinstance(snap, pl.DataFrame)
    assert df["user_id"].to_list() == ["u1", "u1", "u2", "u3"]
    assert df["label"].to_list() == [0, 1, 0, 0]
    assert df["user_context__offset"].null_count() == 2
    assert df["user_context__value"].struct.field("segment").to_list() == ["retail", "retail", None, None]
    assert df["user_context__headers"].to_list()[:2] == [[{"key": "model", "value": b"risk-v3"}]] * 2
    assert snap.height == 2
    values = dict(zip(snap["key"].to_list(), snap["value"].to_list()))
    assert values == {b"u1": {"risk_score": 0.8, "segment": "retail"},
                      b"u2": {"risk_score": 0.3, "segment": "smb"}}
    out = capsys.readouterr().out
    assert "risk_score" in out and "u1" in out
