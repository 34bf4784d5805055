#!/usr/bin/env bash
# The Microchip figure of BENCHMARKS.md: thingpress inspect of a
# 100,000-entry Microchip manifest made by thingpress generate (devices/s,
# CPU time, peak RSS, file size), next to the ceiling of two P-256
# verifications per device on one core, measured in the same run, before
# and after inspect so that a shared machine's noise shows. N=... changes
# the device count; the manifest is made once in $TMPDIR and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
go build -o bin/thingpress ./cmd/thingpress
go test -c -o bin/microchip.test ./internal/manifest/microchip/
dir=${TMPDIR:-/tmp}/thingpress-bench-microchip-$n
if [ ! -f "$dir/manifest.json" ]; then
  rm -rf "$dir"
  /usr/bin/time -f "generate: %e s wall, %U+%S s CPU, %M KB peak RSS" \
    bin/thingpress generate --vendor microchip --devices "$n" --seed bench --out "$dir" >/dev/null
fi
size=$(stat -c %s "$dir/manifest.json")
echo "manifest: $dir/manifest.json, $n devices, $size bytes"
# ceiling: the Go benchmark's wall-clock rate, and its iterations per CPU
# second of the process, which a shared machine disturbs less.
ceiling() {
  local out cpu
  out=$( { /usr/bin/time -f 'cpu %U %S' bin/microchip.test -test.run '^$' -test.bench 'TwoP256Verifications' -test.benchtime 3s; } 2>&1)
  cpu=$(awk '$1 == "cpu" { print $2 + $3 }' <<<"$out")
  awk -v cpu="$cpu" '/^BenchmarkTwoP256/ { for (i = 1; i < NF; i++) if ($(i+1) == "entries/s") w = $i; n = $2 }
    END { printf "ceiling (two P-256 verifications a device, one goroutine): %d devices/s wall, %d devices per CPU second\n", w, n / cpu }' <<<"$out"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
ceiling
# inspect ARGS...: one run of inspect with its time, CPU and peak RSS.
inspect() {
  local t wall user sys rss
  t=$( { /usr/bin/time -f '%e %U %S %M' bin/thingpress inspect --signer "$dir/signer.pem" "$@" "$dir/manifest.json" >/dev/null; } 2>&1 | tail -1)
  read -r wall user sys rss <<<"$t"
  awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v a="${*:-(signatures only)}" 'BEGIN {
    printf "inspect --signer %s: %.2f s wall, %.2f s CPU, %d devices/s wall, %d devices per CPU second, peak RSS %d MB\n",
      a, w, u + s, n / w, n / (u + s), r / 1024 }'
}
# The printed command (--trust adds the chain check, a third verification),
# its JSON output, and the signatures alone (two verifications a device).
inspect --trust "$dir/ca.pem"
inspect --trust "$dir/ca.pem" --output json
inspect
ceiling
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
