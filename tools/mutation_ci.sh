#!/usr/bin/env bash
# Fast CI gate: mutation-test the ledger, the accounting (alignment) and the NVML GPU sensors with
# mutmut and fail when a module's kill rate (non-equivalent mutants) drops below its threshold in
# tools/mutation.py. (schedule/plans, sampler and host are left out for time: docs/testing.md.)
# Needs mutmut in the venv: .venv/bin/python -m pip install 'mutmut==3.8.1'
# Usage: bash tools/mutation_ci.sh [python]   (default: .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import mutmut" 2>/dev/null; then
  echo "mutation_ci: mutmut is not installed for $PY (pip install 'mutmut==3.8.1')" >&2
  exit 2
fi
start=$(date +%s)
rc=0
"$PY" tools/mutation.py accounting ledger-core nvml --check --quiet --no-survivors \
  --jobs "${MUTATION_JOBS:-2}" || rc=$?
echo "mutation_ci: done in $(( $(date +%s) - start )) s"
exit $rc
