#!/usr/bin/env bash
# The main job end to end on this machine: start a local AWS IoT (moto),
# create a policy, a thing type and a thing group, inspect and import a reel
# bundle, show the resulting Things with the AWS CLI, import again to show
# that nothing is created twice, verify that every device is complete, and
# remove them all with thingpress remove.
#
# Usage: scripts/demo.sh [BUNDLE]   (default: the real sample bundle in
# ../shared if present, else cmd/thingpress/testdata/mini-reel.7z, 4 real
# Infineon chips)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bundle=${1:-}
if [ -z "$bundle" ]; then
  bundle=../shared/fixtures/infineon/manifest-infineon.7z
  [ -f "$bundle" ] || bundle=cmd/thingpress/testdata/mini-reel.7z
fi
# Always (re)build: a bin/thingpress left from an older checkout would show
# the old behaviour. Go's build cache makes this cheap when it is current.
if command -v make >/dev/null; then make -s build; else go build -o bin/thingpress ./cmd/thingpress; fi
tp=$root/bin/thingpress

work=$(mktemp -d)
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/launch_moto.py" <<'PY'
import sys
from moto.core.config import default_user_config
default_user_config["iot"]["use_valid_cert"] = True  # certificate IDs as AWS derives them
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
PY
python3 "$work/launch_moto.py" "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint=http://127.0.0.1:$port
if python3 - "$endpoint" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1); sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("moto did not start, see its log below")
PY
then :; else cat "$work/moto.log"; exit 1; fi

# Dummy credentials for the local emulator; nothing leaves this machine.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
export AWS_CONFIG_FILE=$work/none AWS_SHARED_CREDENTIALS_FILE=$work/none XDG_STATE_HOME=$work/state
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IOT
iot() { aws --endpoint-url "$endpoint" iot "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "local AWS IoT (moto) at $endpoint: policy, thing type, thing group"
iot create-policy --policy-name demo-policy --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"}]}' >/dev/null
iot create-thing-type --thing-type-name optiga-trust-m >/dev/null
iot create-thing-group --thing-group-name reel-demo >/dev/null
echo "created demo-policy, optiga-trust-m, reel-demo"

step "thingpress inspect $bundle"
"$tp" inspect "$bundle"

step "thingpress import (report in $work/report.jsonl)"
"$tp" import --endpoint-url "$endpoint" --policy demo-policy --thing-type optiga-trust-m \
  --thing-group reel-demo --report "$work/report.jsonl" "$bundle"

step "aws iot list-things (first 3 of $(iot list-things --query 'things[].thingName' --output text | wc -w))"
iot list-things --max-results 3 --query 'things[].{name:thingName,type:thingTypeName,chip:attributes.chip_id,reel:attributes.reel_id}' --output table
first=$(iot list-things --max-results 1 --query 'things[0].thingName' --output text)
step "the first Thing's certificate, policy and group"
cert=$(iot list-thing-principals --thing-name "$first" --query 'principals[0]' --output text)
echo "principal: $cert"
iot list-attached-policies --target "$cert" --query 'policies[].policyName' --output text | sed 's/^/policies:  /'
echo "things in reel-demo: $(iot list-things-in-thing-group --thing-group-name reel-demo --query 'things[]' --output text | wc -w)"

step "report: first line"
head -n 1 "$work/report.jsonl"

step "thingpress import again: resumes from the state file, nothing created twice"
"$tp" import --endpoint-url "$endpoint" --policy demo-policy --thing-type optiga-trust-m \
  --thing-group reel-demo "$bundle"
echo "certificates in IoT: $(iot list-certificates --query 'certificates[].certificateId' --output text | wc -w)"

step "thingpress verify: every device complete, checked with read-only calls"
"$tp" verify --endpoint-url "$endpoint" --policy demo-policy --thing-type optiga-trust-m \
  --thing-group reel-demo "$bundle"

step "thingpress remove --yes: undo the import"
"$tp" remove --endpoint-url "$endpoint" --policy demo-policy --thing-type optiga-trust-m \
  --thing-group reel-demo --yes "$bundle"
echo "things in IoT: $(iot list-things --query 'things[].thingName' --output text | wc -w)," \
  "certificates: $(iot list-certificates --query 'certificates[].certificateId' --output text | wc -w)"

step "done: moto stopped, temporary files removed"
