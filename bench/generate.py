"""Fill (or continue filling) the province-scale database gx_<scale> on PostgreSQL.

    .venv/bin/python bench/generate.py --scale province     # ≈1,000,000 cases; run again to resume
    .venv/bin/python bench/generate.py --scale city
    .venv/bin/python bench/generate.py --scale registry     # the province's registry, 2,000 cases (bench/registry.py)

Same as `DATABASE_URL=…/gx_province flask db upgrade && flask demo generate --scale province`,
plus creating the database. The other benchmarks (bench/queries.py, bench/engine.py,
bench/web_load.py) run on the database this fills. Instance files (PII keys, uploads) go to
instance/bench-<scale>/ so the encrypted phones stay readable by the bench server.
"""
from __future__ import annotations

import argparse
import time

from common import use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("test", "city", "province", "registry"), default="province")
    parser.add_argument("--workers", type=int, default=2, help="processes cloning cases")
    args = parser.parse_args()
    url = use_database(args.scale, create=True)
    print(f"database: {url}")
    from flask_migrate import upgrade

    from app import create_app
    from app.scale.generate import run
    app = create_app()
    with app.app_context():
        t0 = time.perf_counter()
        upgrade()
        run(args.scale, workers=args.workers)
        print(f"wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
