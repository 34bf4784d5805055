#!/usr/bin/env bash
# Makes cmd/thingpress/testdata/mini-reel.7z: a small reel bundle in
# Infineon's real layout, with the first 4 chips of the real sample bundle
# (public certificates; the sample's keys archive is NOT copied, a dummy
# encrypted one stands in). The committed file lets tests and examples show
# real Infineon certificates on a clone without ../shared.
# Usage: scripts/make-mini-reel.sh [path/to/manifest-infineon.7z]
set -euo pipefail
src=$(realpath "${1:-../shared/fixtures/infineon/manifest-infineon.7z}")
out=$(cd "$(dirname "$0")/.." && pwd)/cmd/thingpress/testdata/mini-reel.7z
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
7z x -y "$src" '-x!*_keys.7z' >/dev/null
prefix=$(ls *_E0E0_Certs.7z | sed 's/_E0E0_Certs.7z$//')
mkdir pack
for slot in E0E0 E0E1 E0E2; do
  mkdir "$slot"
  (cd "$slot" && 7z x -y "../${prefix}_${slot}_Certs.7z" >/dev/null)
  chips=$(ls "$slot" | sort | head -4)
  (cd "$slot" && 7z a -mx=9 "../pack/${prefix}_${slot}_Certs.7z" $chips >/dev/null)
done
echo "not a real key" > dummy_keys.txt
7z a -mhe=on -p"dummy-transport-key" "pack/${prefix}_keys.7z" dummy_keys.txt >/dev/null
cp README.txt pack/
rm -f "$out"
(cd pack && 7z a -mx=9 "$out" ./* >/dev/null)
echo "wrote $out"
