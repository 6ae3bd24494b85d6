#!/usr/bin/env bash
# Wall time and peak memory of the main job with setup done, per notebook and total; then the time of
# `make test` with setup done. Usage: bash benchmarks/book.sh [--fresh]
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python benchmarks/book.py --profile smoke "$@"
start=$(date +%s)
make test >/tmp/minerals-make-test.log 2>&1 || { tail -20 /tmp/minerals-make-test.log; exit 1; }
echo "make test (setup done): $(( $(date +%s) - start )) s  ($(tail -1 /tmp/minerals-make-test.log))"
