#!/usr/bin/env bash
# Benchmarks behind BENCHMARKS.md: inspect of a 100,000-device bundle (wall
# time and peak RSS of the real binary), the Go benchmarks of the readers and
# of inspect, inspect of a 100,000-entry Microchip manifest beside its
# ceiling (scripts/bench-microchip.sh), and the import at AWS's default quotas behind the throttling
# proxy, the provider function on 10,000 devices against moto, and four
# importer functions at the default quotas (about ten minutes in all, plus
# generating the bundle once).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/thingpress ./cmd/thingpress
dir=${TMPDIR:-/tmp}/thingpress-bench
mkdir -p "$dir"
bundle=$dir/reel-100k/reel.7z
[ -f "$bundle" ] || { rm -rf "$dir/reel-100k"; bin/thingpress generate --vendor infineon --devices 100000 --slots E0E0 --out "$dir/reel-100k"; }
for out in table json; do
  /usr/bin/time -f "inspect 100k ($out): %e s wall, %U s user, %S s sys, %M KB peak RSS" \
    bin/thingpress inspect --trust "$dir/reel-100k/ca.pem" --output "$out" "$bundle" >/dev/null
done
go test -run '^$' -bench 'BenchmarkRead100k' -benchtime 1x ./internal/manifest/infineon/
go test -run '^$' -bench 'BenchmarkRead100k' -benchtime 1x ./internal/manifest/xmlmanifest/
go test -run '^$' -bench 'Read100k|TwoP256Verifications' -benchtime 1x ./internal/manifest/microchip/
scripts/bench-microchip.sh
go test -run '^$' -bench 'BenchmarkInspect' -benchtime 3x ./cmd/thingpress/
go test -run '^$' -bench 'BenchmarkImportDefaultQuotas' -benchtime 1x -timeout 30m ./cmd/thingpress/
go test -run '^$' -bench 'BenchmarkProvider' -benchtime 1x -timeout 30m ./internal/testkit/stacktest/
go test -run '^$' -bench 'BenchmarkImporters' -benchtime 1x -timeout 30m ./internal/testkit/stacktest/
