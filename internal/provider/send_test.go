package provider

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/thingpress/thingpress/internal/lambdarun"
)

// sqsServer answers SendMessageBatch as SQS's JSON protocol does, with
// the answer that answer picks for each call (numbered from 1), and
// records the entry IDs of every call.
type sqsServer struct {
	answer func(call int) (status int, failIDs []string, code string, senderFault bool)

	mu    sync.Mutex
	calls [][]string
}

func (s *sqsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entries []struct {
			ID          string `json:"Id"`
			MessageBody string
		}
	}
	body, _ := io.ReadAll(r.Body)
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") || json.Unmarshal(body, &in) != nil {
		http.Error(w, "not a SendMessageBatch", http.StatusBadRequest)
		return
	}
	var ids []string
	for _, e := range in.Entries {
		ids = append(ids, e.ID)
	}
	s.mu.Lock()
	s.calls = append(s.calls, ids)
	call := len(s.calls)
	s.mu.Unlock()

	status, failIDs, code, senderFault := s.answer(call)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if status != http.StatusOK {
		w.Header().Set("x-amzn-query-error", code+";Sender")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": "injected"})
		return
	}
	type ok struct {
		ID               string `json:"Id"`
		MessageID        string `json:"MessageId"`
		MD5OfMessageBody string
	}
	type failed struct {
		ID            string `json:"Id"`
		Code, Message string
		SenderFault   bool
	}
	out := struct {
		Successful []ok
		Failed     []failed
	}{Successful: []ok{}, Failed: []failed{}}
	for _, e := range in.Entries {
		if slices.Contains(failIDs, e.ID) {
			out.Failed = append(out.Failed, failed{ID: e.ID, Code: code, Message: "injected", SenderFault: senderFault})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		out.Successful = append(out.Successful, ok{ID: e.ID, MessageID: "m-" + e.ID, MD5OfMessageBody: hex.EncodeToString(sum[:])})
	}
	_ = json.NewEncoder(w).Encode(out) // a failed write fails the client's call
}

// TestSendRetryLayers counts the SendMessageBatch calls of one batch with
// the real SQS client the function runs (lambdarun.NewClients): a call
// that fails whole is retried by the SDK alone (lambdarun.Attempts calls
// at most, not SDK attempts times SendAttempts), and the entries SQS
// failed in an answer are re-sent by send alone, and only they.
func TestSendRetryLayers(t *testing.T) {
	const sendAttempts = 3
	tests := []struct {
		name    string
		answer  func(call int) (int, []string, string, bool)
		wantErr bool
		want    [][]string // entry IDs of each call
	}{
		{name: "sent at once",
			answer: func(int) (int, []string, string, bool) { return 200, nil, "", false },
			want:   [][]string{{"0", "1", "2"}}},
		{name: "whole call fails twice, the SDK retries",
			answer: func(call int) (int, []string, string, bool) {
				if call <= 2 {
					return 500, nil, "InternalError", false
				}
				return 200, nil, "", false
			},
			want: [][]string{{"0", "1", "2"}, {"0", "1", "2"}, {"0", "1", "2"}}},
		{name: "whole call always fails: the SDK's attempts only", wantErr: true,
			answer: func(int) (int, []string, string, bool) { return 503, nil, "ServiceUnavailable", false },
			want:   slices.Repeat([][]string{{"0", "1", "2"}}, lambdarun.Attempts)},
		{name: "whole call refused: not retried", wantErr: true,
			answer: func(int) (int, []string, string, bool) { return 400, nil, "QueueDoesNotExist", false },
			want:   [][]string{{"0", "1", "2"}}},
		{name: "entries failed in the answer are re-sent alone",
			answer: func(call int) (int, []string, string, bool) {
				if call == 1 {
					return 200, []string{"0", "2"}, "InternalError", false
				}
				return 200, nil, "", false
			},
			want: [][]string{{"0", "1", "2"}, {"0", "2"}}},
		{name: "entries that keep failing: SendAttempts calls", wantErr: true,
			answer: func(int) (int, []string, string, bool) { return 200, []string{"1"}, "InternalError", false },
			want:   [][]string{{"0", "1", "2"}, {"1"}, {"1"}}},
		{name: "an entry refused as the sender's fault is not re-sent", wantErr: true,
			answer: func(int) (int, []string, string, bool) { return 200, []string{"1"}, "InvalidParameterValue", true },
			want:   [][]string{{"0", "1", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &sqsServer{answer: tt.answer}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			t.Setenv("AWS_ENDPOINT_URL", hs.URL)
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			clients, err := lambdarun.NewClients(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// The function's client, with its attempts, waiting less.
			client := sqs.New(clients.SQS.Options(), func(o *sqs.Options) {
				o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
			})
			h := &Handler{cfg: Config{SQS: client, QueueURL: hs.URL + "/123456789012/import", SendAttempts: sendAttempts}}
			err = h.send(t.Context(), [][]byte{[]byte(`{"a":0}`), []byte(`{"a":1}`), []byte(`{"a":2}`)})
			if (err != nil) != tt.wantErr {
				t.Fatalf("send: err = %v, want error %v", err, tt.wantErr)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if !slices.EqualFunc(srv.calls, tt.want, slices.Equal) {
				t.Errorf("%d calls %v, want %d %v", len(srv.calls), srv.calls, len(tt.want), tt.want)
			}
		})
	}
}
