package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/thingpress/thingpress/internal/backoff"
	"github.com/thingpress/thingpress/internal/importer"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/trust"
	"github.com/thingpress/thingpress/internal/validate"
)

// maxDistinct caps the reel and batch IDs a summary lists.
const maxDistinct = 16

// errDeviceTooLarge is the reason of a valid device whose JSON alone is
// over the message size limit.
var errDeviceTooLarge = errors.New("device does not fit in a queue message")

// fanOut validates the devices of src and sends the valid ones to the
// queue while it reads, counting into sum.
// Chains are checked against store (nil: not at all).
func (h *Handler) fanOut(ctx context.Context, src manifest.Source, obj Object, store *trust.Store, sum *stack.Summary, log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	batches := make(chan [][]byte, h.cfg.Senders*2)
	var sent atomic.Int64
	var sendErr error // the first failed send; read after wg.Wait
	var once sync.Once
	var wg sync.WaitGroup
	for range h.cfg.Senders {
		wg.Go(func() {
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain: a send failed or time ran out
				}
				if err := h.send(ctx, b); err != nil {
					once.Do(func() { sendErr = err })
					cancel(err)
					continue
				}
				sent.Add(int64(len(b)))
			}
		})
	}

	bld, err := newBuilder(lambdarun.ManifestURI(obj.Bucket, obj.Key), sum.ETag, sum.VersionID, h.cfg.DevicesPerMessage, h.cfg.MaxMessageBytes)
	if err != nil {
		close(batches)
		wg.Wait()
		return err
	}
	push := func(b [][]byte) error {
		if b == nil {
			return nil
		}
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	vopts := validate.Options{File: obj.Key, Trust: store, Workers: h.cfg.Validators}
	verr := validate.Run(ctx, src, vopts, func(d *validate.Checked) error {
		sum.ReelIDs = addDistinct(sum.ReelIDs, d.ReelID)
		sum.BatchIDs = addDistinct(sum.BatchIDs, d.BatchID)
		var b [][]byte
		if d.OK() {
			dev, err := json.Marshal(importer.FromChecked(d))
			if err != nil {
				return err
			}
			b, err = bld.add(dev)
			if errors.Is(err, errDeviceTooLarge) {
				d.Err = &manifest.Error{File: obj.Key, Entry: d.Entry, Device: d.ChipID, Err: err}
			}
		}
		sum.Check(d)
		if !d.OK() {
			// The reason names the entry and the problem, never the
			// certificate's content or key material.
			log.Warn("invalid device", "entry", d.Entry, "chip", d.ChipID, "thing", d.ThingName,
				"kind", validate.Label(d.Err), "reason", manifest.Reason(d.Err))
			return nil
		}
		return push(b)
	})
	if verr == nil {
		for _, b := range bld.flush() {
			if verr = push(b); verr != nil {
				break
			}
		}
	}
	close(batches)
	wg.Wait()
	sum.Messages = int(sent.Load())
	// A failed send is the cause to report: it cancelled the reading.
	if sendErr != nil {
		return fmt.Errorf("send to the import queue: %w", sendErr)
	}
	if verr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped before the end of the manifest: %w", verr)
		}
		return classifyManifestErr(verr)
	}
	return nil
}

func addDistinct(list []string, s string) []string {
	if s == "" || len(list) >= maxDistinct || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// builder packs device JSON into message bodies and message bodies into
// batches, keeping each message and each batch under the size limit.
type builder struct {
	head     []byte // {"manifest":...,"devices":[
	perMsg   int
	maxBytes int

	cur        []byte // the open message, without its closing "]}"
	curN       int
	batch      [][]byte
	batchBytes int
}

func newBuilder(uri, etag, version string, perMsg, maxBytes int) (*builder, error) {
	var head []byte
	head = append(head, `{"manifest":`...)
	m, _ := json.Marshal(uri) // a string always marshals
	head = append(head, m...)
	if etag != "" {
		e, _ := json.Marshal(etag)
		head = append(head, `,"manifest_etag":`...)
		head = append(head, e...)
	}
	if version != "" {
		v, _ := json.Marshal(version)
		head = append(head, `,"manifest_version":`...)
		head = append(head, v...)
	}
	head = append(head, `,"devices":[`...)
	if len(head)+2 >= maxBytes {
		return nil, fmt.Errorf("manifest name too long for a queue message: %d bytes", len(head))
	}
	return &builder{head: head, perMsg: perMsg, maxBytes: maxBytes}, nil
}

// add appends one device and returns a batch when it completed one.
func (b *builder) add(dev []byte) ([][]byte, error) {
	if len(b.head)+len(dev)+2 > b.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes", errDeviceTooLarge, len(dev))
	}
	var full [][]byte
	if b.curN > 0 && (b.curN >= b.perMsg || len(b.cur)+1+len(dev)+2 > b.maxBytes) {
		full = b.closeMessage()
	}
	if b.curN == 0 {
		b.cur = append(make([]byte, 0, min(b.maxBytes, len(b.head)+b.perMsg*(len(dev)+1)+2)), b.head...)
	} else {
		b.cur = append(b.cur, ',')
	}
	b.cur = append(b.cur, dev...)
	b.curN++
	return full, nil
}

// closeMessage ends the open message and puts it in the batch; it
// returns the previous batch when the message did not fit in it.
func (b *builder) closeMessage() [][]byte {
	body := append(b.cur, ']', '}')
	b.cur, b.curN = nil, 0
	var full [][]byte
	if len(b.batch) == MaxBatchEntries || b.batchBytes+len(body) > b.maxBytes {
		full = b.batch
		b.batch, b.batchBytes = nil, 0
	}
	b.batch = append(b.batch, body)
	b.batchBytes += len(body)
	return full
}

// flush ends the open message and returns the batches left to send:
// one, or two when the last message did not fit in the last batch.
func (b *builder) flush() [][][]byte {
	var out [][][]byte
	if b.curN > 0 {
		if full := b.closeMessage(); full != nil {
			out = append(out, full)
		}
	}
	if len(b.batch) > 0 {
		out = append(out, b.batch)
	}
	b.batch, b.batchBytes = nil, 0
	return out
}

// send sends one batch. A call that fails whole was already retried by
// the SDK (its retryer, see lambdarun.NewClients), so it fails the batch;
// the entries SQS failed for its own reasons in an answer that came are
// re-sent here, up to SendAttempts calls in all, with jittered backoff.
func (h *Handler) send(ctx context.Context, bodies [][]byte) error {
	pending := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i, b := range bodies {
		pending[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(b))}
	}
	for attempt := 1; ; attempt++ {
		out, err := h.cfg.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(h.cfg.QueueURL), Entries: pending})
		if err != nil {
			return err
		}
		byID := map[string]types.SendMessageBatchRequestEntry{}
		for _, e := range pending {
			byID[aws.ToString(e.Id)] = e
		}
		var retry []types.SendMessageBatchRequestEntry
		var lastErr error
		for _, f := range out.Failed {
			if f.SenderFault {
				return fmt.Errorf("SQS refused a message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			}
			if e, ok := byID[aws.ToString(f.Id)]; ok {
				retry = append(retry, e)
			}
			lastErr = fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
		}
		if pending = retry; len(pending) == 0 {
			return nil
		}
		if attempt >= h.cfg.SendAttempts {
			return fmt.Errorf("%d entries still failed after %d attempts: %w", len(pending), attempt, lastErr)
		}
		if !backoff.Sleep(ctx, backoff.Full(50*time.Millisecond, 5*time.Second, attempt)) {
			return context.Cause(ctx)
		}
	}
}
