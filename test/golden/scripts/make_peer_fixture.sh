#!/usr/bin/env bash
# test/golden/peer-small.safetensors: the PyTorch peer's export (small spec) for test/core/peer-parity.test.ts.
set -euo pipefail
cd "$(dirname "$0")/../../.."
/usr/bin/python3 bench/peer/torch_step.py --export test/golden/peer-small.safetensors --small
