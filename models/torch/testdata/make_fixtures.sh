#!/usr/bin/env bash
# Regenerates the TorchScript fixtures with Debian's PyTorch, for the
# feature count of models/features (its Len constant). Run after a new
# feature vector version:  models/torch/testdata/make_fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
len=$(sed -n 's/^const Len = \([0-9][0-9]*\)$/\1/p' "$here/../../features/features.go")
if [ -z "$len" ]; then
  echo "make_fixtures.sh: no 'const Len = N' in models/features/features.go" >&2
  exit 1
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "make_fixtures.sh: needs Debian's PyTorch: apt-get update && apt-get install -y python3-torch" >&2
  exit 1
fi
exec /usr/bin/python3 "$here/make_fixtures.py" "$len" "$here"
