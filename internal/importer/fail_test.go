package importer_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/state"
)

func TestFail(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		wantRetryable bool
	}{
		{name: "refused", err: errors.New("CreateThing: InvalidRequestException: bad")},
		{name: "retries ran out", err: &awsiot.CallError{Op: "CreateThing", Err: fmt.Errorf("%w after 3 attempts", awsiot.ErrGaveUp)}, wantRetryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := state.NewMemory()
			res := importer.Result{ChipID: "chip"}
			if err := importer.Fail(j, "c1", &res, tt.err); err != nil {
				t.Fatal(err)
			}
			if res.Status != importer.Failed || res.Error != tt.err.Error() || res.Retryable != tt.wantRetryable {
				t.Errorf("result %+v, want failed with %q, retryable %v", res, tt.err, tt.wantRetryable)
			}
			st, ok, err := j.Get("c1")
			if err != nil || !ok || st.Status != string(importer.Failed) || st.Error != tt.err.Error() {
				t.Errorf("recorded %+v (found %v, %v), want failed with the reason", st, ok, err)
			}
		})
	}
}
