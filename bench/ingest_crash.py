"""kill -9 of the ingest worker, many rounds: writes reports/ingest_crash.json.

``.venv/bin/python bench/ingest_crash.py --rounds 20`` (see tests/support/ingest_crash.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.ingest_crash import run

from bench._report import write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run(Path(tmp), rounds=args.rounds, seed=args.seed)
    print(write("ingest_crash", {"command": " ".join(sys.argv), **report}))
    print("ok" if report["ok"] else f"PROBLEMS: {report['problems']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
