package iottest

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/motoserver"
)

// AWSState is what boto3 finds in moto: every Thing with its type,
// attributes, principals and their policies, the group's members and the
// certificates' statuses.
type AWSState struct {
	Things map[string]struct {
		Type       string
		Attributes map[string]string
		Principals []string
		Policies   []string
	}
	Group        []string
	Certificates map[string]string
}

// botoScript answers one request per line of stdin, a JSON [endpoint,
// group, region], with one line of JSON on stdout: the state, or
// {"Error": ...}. One process serves the whole test binary, so boto3's
// start (half a second) is paid once, not at every check.
const botoScript = `
import json, sys, traceback, boto3
def state(endpoint, group, region):
    iot = boto3.client("iot", endpoint_url=endpoint, region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    out = {"Things": {}, "Group": [], "Certificates": {}}
    for page in iot.get_paginator("list_things").paginate():
        for th in page["things"]:
            name = th["thingName"]
            principals = iot.list_thing_principals(thingName=name)["principals"]
            policies = []
            for p in principals:
                policies += [x["policyName"] for x in iot.list_attached_policies(target=p)["policies"]]
            out["Things"][name] = {"Type": th.get("thingTypeName", ""), "Attributes": th.get("attributes", {}),
                "Principals": principals, "Policies": policies}
    for page in iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group):
        out["Group"] += page["things"]
    for page in iot.get_paginator("list_certificates").paginate():
        for c in page["certificates"]:
            out["Certificates"][c["certificateArn"]] = c["status"]
    return out
for line in sys.stdin:
    try:
        out = state(*json.loads(line))
    except Exception:
        out = {"Error": traceback.format_exc()}
    print(json.dumps(out), flush=True)
`

// boto is the boto3 process BotoState talks to, started at the first
// check; it ends when the test binary closes its stdin by exiting.
var boto struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Reader
}

// BotoState asks moto at endpoint, through boto3 (an independent client,
// one request), what it holds, with group's members. Without python3 the
// test is skipped, except under CI=true, where it fails.
func BotoState(t testing.TB, endpoint, group string) AWSState {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required under CI=true: %v", err)
		}
		t.Skipf("python3 not on PATH: cannot check moto with boto3")
	}
	boto.mu.Lock()
	defer boto.mu.Unlock()
	if boto.in == nil {
		cmd := exec.Command("python3", "-c", botoScript)
		cmd.Env = append(os.Environ(), "AWS_PAGER=")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("boto3: %v", err)
		}
		boto.in, boto.out = in, bufio.NewReaderSize(out, 1<<20)
	}
	req, _ := json.Marshal([]string{endpoint, group, motoserver.Region})
	var line []byte
	_, err := boto.in.Write(append(req, '\n'))
	if err == nil {
		line, err = boto.out.ReadBytes('\n')
	}
	if err != nil {
		boto.in.Close()
		boto.in = nil
		t.Fatalf("boto3: %v", err)
	}
	var st struct {
		AWSState
		Error string
	}
	if err := json.Unmarshal(line, &st); err != nil {
		t.Fatalf("boto3 output: %v\n%s", err, line)
	}
	if st.Error != "" {
		t.Fatalf("boto3: %s", st.Error)
	}
	return st.AWSState
}
