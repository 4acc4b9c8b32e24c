#!/bin/sh
# Compiles every native/src/*.cc to object code for aarch64 (a cross g++): proves the x86 intrinsics are guarded and
# the addon builds, with its portable kernels, off x86. Skips (exit 0) with a message when aarch64-linux-gnu-g++ is
# absent (Debian: apt-get install -y g++-aarch64-linux-gnu). CXX=... picks another cross compiler.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cxx=${CXX:-aarch64-linux-gnu-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "check-native-portable: $cxx not found, skipped (Debian: apt-get install -y g++-aarch64-linux-gnu)"
  exit 0
fi
node_inc=$(dirname "$(command -v node)")/../include/node
api_inc=$(cd "$root" && node -p "require('node-addon-api').include_dir")
case "$api_inc" in /*) ;; *) api_inc="$root/$api_inc" ;; esac
if [ ! -f "$node_inc/node_api.h" ]; then
  echo "check-native-portable: Node headers not found at $node_inc" >&2
  exit 1
fi
# The defines and warnings of binding.gyp; -Werror so that a target attribute the compiler ignores fails too.
flags="-std=c++17 -O3 -c -o /dev/null -Wall -Werror -Wno-psabi -Wno-unused-function -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS
  -DNODE_ADDON_API_DISABLE_DEPRECATED -I$node_inc -I$api_inc"
status=0
for f in "$root"/native/src/*.cc; do
  # shellcheck disable=SC2086
  if ! "$cxx" $flags "$f"; then
    echo "check-native-portable: $(basename "$f") does not compile for $("$cxx" -dumpmachine)" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-native-portable: all native/src/*.cc compile for $("$cxx" -dumpmachine)"
exit $status
