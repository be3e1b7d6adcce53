#!/usr/bin/env bash
# env.sh: the build environment of Kairos's libtorch-backed models
# (build tag `torch`), for gotch v0.7.0 against Debian's libtorch-dev 1.13.1.
#
#   source models/torch/env.sh                         # then any go command
#   models/torch/env.sh go test -tags torch ./models/...  # or as a wrapper
#
# It sets
#   CGO_CXXFLAGS  the torch C++ API include path, a force-include of
#                 compat.h (gotch's 1.11 bindings on 1.13) and
#                 -DKAIROS_TORCH_COMPAT=<sha256 of compat.h>, because Go's
#                 build cache does not notice an edit of a force-included
#                 header but does notice a change of flags;
#   CGO_LDFLAGS   -L of a directory of empty static archives named after the
#                 CUDA libraries gotch's libtch/lib.go links unconditionally
#                 (the CPU build needs none of their symbols, so the binary
#                 links only against libtorch, libtorch_cpu and libc10).
# The archives are created once under $KAIROS_TORCH_STUBS (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/kairos/cuda-stubs), outside the module
# cache and the repository.
#
# It needs libtorch-dev (apt-get install -y libtorch-dev); without it, it
# says so and fails.

kairos_torch_env() {
  local here inc sha stubs lib
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
  inc=/usr/include/torch/csrc/api/include
  if [ ! -d "$inc" ] || [ ! -e /usr/include/ATen/ATen.h ]; then
    echo "models/torch/env.sh: libtorch headers not found under /usr/include; install them with: apt-get update && apt-get install -y libtorch-dev" >&2
    return 1
  fi
  sha=$(sha256sum "$here/compat.h" | cut -c1-16) || return 1
  stubs=${KAIROS_TORCH_STUBS:-${XDG_CACHE_HOME:-$HOME/.cache}/kairos/cuda-stubs}
  mkdir -p "$stubs" || return 1
  for lib in cuda cudart cublas cudnn caffe2_nvrtc nvrtc-builtins nvrtc nvToolsExt c10_cuda torch_cuda; do
    if [ ! -e "$stubs/lib$lib.a" ]; then
      ar rcs "$stubs/lib$lib.a" || return 1
    fi
  done
  export CGO_ENABLED=1
  export CGO_CXXFLAGS="-I$inc -include $here/compat.h -DKAIROS_TORCH_COMPAT=$sha"
  export CGO_LDFLAGS="-L$stubs"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: set the variables in the caller's shell.
  kairos_torch_env
else
  # Run as a wrapper: set them and run the command.
  set -euo pipefail
  kairos_torch_env
  if [ $# -eq 0 ]; then
    echo "CGO_CXXFLAGS=$CGO_CXXFLAGS"
    echo "CGO_LDFLAGS=$CGO_LDFLAGS"
    exit 0
  fi
  exec "$@"
fi
