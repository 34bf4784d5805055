package results

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/thingpress/thingpress/internal/backoff"
)

// Sentinel errors.
var (
	// ErrNotFound means the table holds no item of the manifest.
	ErrNotFound = errors.New("manifest not in the results table")
	// ErrState means the manifest is not in a state that allows the
	// change (a retry of a manifest that is not done).
	ErrState = errors.New("manifest is not in the state the change needs")
	// ErrNotTold means a manifest is done but its final summary or
	// notice failed (Finish); the functions wrap Finish's error in it.
	ErrNotTold = errors.New("manifest done, but its end not told")
)

// State is where a manifest stands.
type State string

// The states of a manifest. The provider sets reading, queued and
// failed; `thingpress retry` sets importing; whoever records a
// manifest's last device sets done.
const (
	StateReading   State = "reading"
	StateQueued    State = "queued"
	StateImporting State = "importing"
	StateDone      State = "done"
	StateFailed    State = "failed"
)

// Outcome is how a device ended.
type Outcome string

// The outcomes a device item records.
const (
	Imported Outcome = "imported"
	Exists   Outcome = "exists"
	Failed   Outcome = "failed"
)

// Key attributes and their prefixes: a manifest's item is
// (M#<id>, manifest), each of its devices (D#<id>, certificate ID).
// The provider's role is limited to the M# partition keys.
const (
	AttrPK          = "pk"
	AttrSK          = "sk"
	ManifestPrefix  = "M#"
	DevicePrefix    = "D#"
	manifestSK      = "manifest"
	messageSKPrefix = "msg#"
)

// ID names one manifest version: its URI and version (the object's
// version ID, or its ETag in an unversioned bucket: stack.Message.Version).
func ID(uri, version string) string {
	if version == "" {
		return uri
	}
	return uri + "#" + version
}

// Manifest is a manifest's item.
type Manifest struct {
	ID       string `dynamodbav:"-" json:"id"`
	Manifest string `dynamodbav:"manifest,omitempty" json:"manifest"`
	ETag     string `dynamodbav:"etag,omitempty" json:"etag,omitempty"`
	State    State  `dynamodbav:"state,omitempty" json:"state"`
	Valid    int    `dynamodbav:"valid" json:"valid"`
	Imported int    `dynamodbav:"imported" json:"imported"`
	Exists   int    `dynamodbav:"exists" json:"exists"`
	Failed   int    `dynamodbav:"failed" json:"failed"`
	// Requeued counts the devices sent back to the queue to finish
	// later, once per message delivery that sent them.
	Requeued int `dynamodbav:"requeued" json:"requeued"`
	// Started, QueuedAt and Finished are RFC 3339 times (milliseconds).
	Started  string `dynamodbav:"started,omitempty" json:"started,omitempty"`
	QueuedAt string `dynamodbav:"queued_at,omitempty" json:"queued_at,omitempty"`
	Finished string `dynamodbav:"finished,omitempty" json:"finished,omitempty"`
	// Notified is when the end of the current round was told (the final
	// summary written and the notice published); empty until then.
	Notified string `dynamodbav:"notified,omitempty" json:"notified,omitempty"`
	// Round counts the retries; Outstanding is the devices of the
	// current retry not yet recorded.
	Round       int    `dynamodbav:"round" json:"round,omitempty"`
	Outstanding int    `dynamodbav:"outstanding" json:"outstanding,omitempty"`
	Error       string `dynamodbav:"error,omitempty" json:"error,omitempty"`
}

// Ended is the devices that reached an outcome.
func (m Manifest) Ended() int { return m.Imported + m.Exists + m.Failed }

// complete reports whether every device the manifest was waiting for
// has an outcome.
func (m Manifest) complete() bool {
	switch m.State {
	case StateQueued:
		return m.Ended() >= m.Valid
	case StateImporting:
		return m.Outstanding <= 0
	}
	return false
}

// Duration is the time from Started to Finished, or to now when the
// manifest is not finished; 0 when unknown.
func (m Manifest) Duration(now time.Time) time.Duration {
	start, err := time.Parse(time.RFC3339, m.Started)
	if err != nil {
		return 0
	}
	end := now
	if f, err := time.Parse(time.RFC3339, m.Finished); err == nil {
		end = f
	}
	return max(end.Sub(start), 0)
}

// Rate is the devices that ended per second of Duration; 0 when
// unknown.
func (m Manifest) Rate(now time.Time) float64 {
	d := m.Duration(now)
	if d <= 0 {
		return 0
	}
	return float64(m.Ended()) / d.Seconds()
}

// Device is a device's item. Failed devices keep what is needed to queue
// them again (never a private key: the queue messages carry none).
type Device struct {
	ChipID         string            `dynamodbav:"chip_id,omitempty" json:"chip_id,omitempty"`
	ReelID         string            `dynamodbav:"reel_id,omitempty" json:"reel_id,omitempty"`
	BatchID        string            `dynamodbav:"batch_id,omitempty" json:"batch_id,omitempty"`
	ThingName      string            `dynamodbav:"thing_name,omitempty" json:"thing_name"`
	CertificateID  string            `dynamodbav:"certificate_id" json:"certificate_id"`
	Outcome        Outcome           `dynamodbav:"outcome" json:"outcome"`
	Reason         string            `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	Attempts       int               `dynamodbav:"attempts" json:"attempts"`
	Round          int               `dynamodbav:"round" json:"-"`
	CertificatePEM string            `dynamodbav:"certificate_pem,omitempty" json:"-"`
	Attributes     map[string]string `dynamodbav:"attributes,omitempty" json:"-"`
}

// API is the DynamoDB calls the table needs; *dynamodb.Client satisfies
// it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Table is the results table.
type Table struct {
	API  API
	Name string
	// Now is time.Now unless a test replaces it.
	Now func() time.Time
}

// New returns the table name reached through api.
func New(api API, name string) *Table { return &Table{API: api, Name: name, Now: time.Now} }

// stampLayout is RFC 3339 with milliseconds.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

func (t *Table) stamp() string { return t.Now().UTC().Format(stampLayout) }

func manifestKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: ManifestPrefix + id},
		AttrSK: &types.AttributeValueMemberS{Value: manifestSK},
	}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// updateOf is an Update of the item at key by upd, on cond when it is
// set.
func (t *Table) updateOf(key map[string]types.AttributeValue, upd expression.UpdateBuilder, cond *expression.ConditionBuilder) (*types.Update, error) {
	b := expression.NewBuilder().WithUpdate(upd)
	if cond != nil {
		b = b.WithCondition(*cond)
	}
	expr, err := b.Build()
	if err != nil {
		return nil, err
	}
	return &types.Update{
		TableName: aws.String(t.Name), Key: key,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, nil
}

// putOf is a Put of item on condition cond.
func (t *Table) putOf(item map[string]types.AttributeValue, cond expression.ConditionBuilder) (*types.Put, error) {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return nil, err
	}
	return &types.Put{
		TableName: aws.String(t.Name), Item: item, ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, nil
}

// update runs one UpdateItem on the manifest's item; cond may be nil.
func (t *Table) update(ctx context.Context, id string, upd expression.UpdateBuilder, cond *expression.ConditionBuilder, ret types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	u, err := t.updateOf(manifestKey(id), upd, cond)
	if err != nil {
		return nil, err
	}
	return t.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key,
		UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
		ReturnValues: ret,
	})
}

func stateIs(states ...State) expression.ConditionBuilder {
	c := expression.Name("state").Equal(expression.Value(states[0]))
	for _, s := range states[1:] {
		c = c.Or(expression.Name("state").Equal(expression.Value(s)))
	}
	return c
}

// Reading records that the provider started reading the manifest. It
// reports false, changing nothing, when the manifest was already queued
// (a repeated S3 event): its devices need not be queued again.
func (t *Table) Reading(ctx context.Context, id, uri, etag string) (bool, error) {
	upd := expression.Set(expression.Name("state"), expression.Value(StateReading)).
		Set(expression.Name("manifest"), expression.Value(uri)).
		Set(expression.Name("started"), expression.IfNotExists(expression.Name("started"), expression.Value(t.stamp())))
	if etag != "" {
		upd = upd.Set(expression.Name("etag"), expression.Value(etag))
	}
	cond := expression.AttributeNotExists(expression.Name("state")).Or(stateIs(StateReading, StateFailed))
	_, err := t.update(ctx, id, upd, &cond, types.ReturnValueNone)
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("results table: manifest %s: %w", id, err)
	}
	return true, nil
}

// Queued records that the provider queued valid devices of the manifest
// and its reading ended. It returns the manifest and true when the
// caller is to finish it (see CheckDone and Finish).
func (t *Table) Queued(ctx context.Context, id string, valid int) (Manifest, bool, error) {
	now := t.stamp()
	upd := expression.Set(expression.Name("state"), expression.Value(StateQueued)).
		Set(expression.Name("valid"), expression.Value(valid)).
		Set(expression.Name("queued_at"), expression.Value(now))
	cond := stateIs(StateReading)
	// A condition that fails means another reading of the same version
	// got there first.
	if _, err := t.update(ctx, id, upd, &cond, types.ReturnValueNone); err != nil && !isConditionFailed(err) {
		return Manifest{}, false, fmt.Errorf("results table: manifest %s queued: %w", id, err)
	}
	return t.CheckDone(ctx, id)
}

// Fail records that the provider could not read the manifest to the
// end.
func (t *Table) Fail(ctx context.Context, id, reason string) error {
	upd := expression.Set(expression.Name("state"), expression.Value(StateFailed)).
		Set(expression.Name("error"), expression.Value(reason)).
		Set(expression.Name("finished"), expression.Value(t.stamp()))
	cond := stateIs(StateReading)
	if _, err := t.update(ctx, id, upd, &cond, types.ReturnValueNone); err != nil && !isConditionFailed(err) {
		return fmt.Errorf("results table: manifest %s failed: %w", id, err)
	}
	return nil
}

// Get reads the manifest's item (strongly consistent).
func (t *Table) Get(ctx context.Context, id string) (Manifest, error) {
	out, err := t.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: manifestKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Manifest{}, fmt.Errorf("results table: manifest %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Manifest{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var m Manifest
	if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil {
		return Manifest{}, fmt.Errorf("results table: manifest %s: %w", id, err)
	}
	m.ID = id
	return m, nil
}

// CheckDone sets the manifest done when each device it waits for has an
// outcome. It returns the manifest with true when the caller is to finish
// it (Finish): this call set it done, or it was done already but its end
// not yet told (the caller that set it done failed to tell it, or is
// telling it now). Until one Finish succeeds, every caller sees true.
func (t *Table) CheckDone(ctx context.Context, id string) (Manifest, bool, error) {
	m, err := t.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Manifest{}, false, nil
	case err != nil:
		return m, false, err
	case m.State == StateDone:
		return m, m.Notified == "", nil
	case !m.complete():
		return m, false, nil
	}
	upd := expression.Set(expression.Name("state"), expression.Value(StateDone)).
		Set(expression.Name("finished"), expression.Value(t.stamp()))
	cond := stateIs(m.State)
	if m.State == StateImporting {
		cond = cond.And(expression.Name("round").Equal(expression.Value(m.Round)))
	}
	out, err := t.update(ctx, id, upd, &cond, types.ReturnValueAllNew)
	if isConditionFailed(err) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("results table: manifest %s done: %w", id, err)
	}
	var done Manifest
	if err := attributevalue.UnmarshalMap(out.Attributes, &done); err != nil {
		return m, false, err
	}
	done.ID = id
	return done, true, nil
}

// MarkNotified records that the end of m (as CheckDone returned it) was
// told, so that CheckDone no longer asks for it. It changes nothing when
// the manifest has moved on since (a retry started): that round's end is
// told in its turn.
func (t *Table) MarkNotified(ctx context.Context, m Manifest) error {
	upd := expression.Set(expression.Name("notified"), expression.IfNotExists(expression.Name("notified"), expression.Value(t.stamp())))
	cond := stateIs(StateDone).And(expression.Name("finished").Equal(expression.Value(m.Finished)))
	_, err := t.update(ctx, m.ID, upd, &cond, types.ReturnValueNone)
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("results table: manifest %s notified: %w", m.ID, err)
	}
	return nil
}

// Finish tells the end of m, as CheckDone returned it, with f (which may
// be nil: nothing to tell) and then marks it told. On an error the
// manifest stays done but untold, so the next CheckDone asks again.
func (t *Table) Finish(ctx context.Context, f *Finisher, m Manifest) error {
	if err := f.Finish(ctx, m); err != nil {
		return err
	}
	return t.MarkNotified(ctx, m)
}

// Result is one device's outcome in one delivery of a message.
type Result struct {
	Device  Device
	Outcome Outcome
	Reason  string
}

// Delivery is what one delivery of one queue message did.
type Delivery struct {
	Manifest  string // ID
	MessageID string
	// Round is the retry round of the message (0: from the provider).
	Round    int
	Results  []Result
	Requeued int
}

// maxEntries leaves room in a transaction (100 items) for the
// manifest's update.
const maxEntries = 99

// entry is one conditional Put or Update of a device's item in a
// transaction and what it adds to the manifest's counters when it
// succeeds.
type entry struct {
	item  types.TransactWriteItem
	delta map[string]int
}

// Record files a delivery: each device's item is written only if the
// device has no outcome yet (round 0) or failed in an earlier round, in
// one transaction with the counters it changes, so that a message
// delivered again adds nothing. It returns the manifest and true when the
// caller is to finish it (see CheckDone).
func (t *Table) Record(ctx context.Context, d Delivery) (Manifest, bool, error) {
	var entries []entry
	pk := &types.AttributeValueMemberS{Value: DevicePrefix + d.Manifest}
	for _, r := range d.Results {
		dev := r.Device
		dev.Outcome, dev.Reason, dev.Round, dev.Attempts = r.Outcome, r.Reason, d.Round, d.Round+1
		if r.Outcome != Failed {
			// Successes keep only what identifies them.
			dev.ReelID, dev.BatchID, dev.CertificatePEM, dev.Attributes, dev.Reason = "", "", "", nil, ""
		}
		item, err := attributevalue.MarshalMap(dev)
		if err != nil {
			return Manifest{}, false, err
		}
		item[AttrPK], item[AttrSK] = pk, &types.AttributeValueMemberS{Value: dev.CertificateID}
		var cond expression.ConditionBuilder
		delta := map[string]int{string(r.Outcome): 1}
		if d.Round == 0 {
			cond = expression.AttributeNotExists(expression.Name(AttrSK))
		} else {
			cond = expression.Name("outcome").Equal(expression.Value(Failed)).And(expression.Name("round").LessThan(expression.Value(d.Round)))
			delta[string(Failed)]--
			delta["outstanding"] = -1
		}
		p, err := t.putOf(item, cond)
		if err != nil {
			return Manifest{}, false, err
		}
		entries = append(entries, entry{item: types.TransactWriteItem{Put: p}, delta: delta})
	}
	if d.Requeued > 0 && d.MessageID != "" {
		// A marker of the delivery, so that the send-backs of a message
		// delivered again are not counted again.
		item := map[string]types.AttributeValue{
			AttrPK: pk, AttrSK: &types.AttributeValueMemberS{Value: messageSKPrefix + d.MessageID},
			"requeued": &types.AttributeValueMemberN{Value: strconv.Itoa(d.Requeued)},
		}
		p, err := t.putOf(item, expression.AttributeNotExists(expression.Name(AttrSK)))
		if err != nil {
			return Manifest{}, false, err
		}
		entries = append(entries, entry{item: types.TransactWriteItem{Put: p}, delta: map[string]int{"requeued": d.Requeued}})
	}
	for len(entries) > 0 {
		n := min(len(entries), maxEntries)
		if _, err := t.transact(ctx, d.Manifest, entries[:n], nil); err != nil {
			return Manifest{}, false, err
		}
		entries = entries[n:]
	}
	return t.CheckDone(ctx, d.Manifest)
}

// transactAttempts bounds the tries of one transaction that DynamoDB
// cancels for a conflict or throttling (condition failures are taken out
// and do not count).
const transactAttempts = 8

// transact writes entries and their counters in one transaction, the
// counters' update on condition cond when it is set (ErrState when it
// fails). An entry whose condition fails (its device is recorded
// already) is left out and the rest written again. It returns how many
// entries were written.
func (t *Table) transact(ctx context.Context, id string, entries []entry, cond *expression.ConditionBuilder) (int, error) {
	for attempt := 1; len(entries) > 0; {
		total := map[string]int{}
		items := make([]types.TransactWriteItem, 0, len(entries)+1)
		for _, e := range entries {
			for k, v := range e.delta {
				total[k] += v
			}
			items = append(items, e.item)
		}
		var upd expression.UpdateBuilder
		for _, k := range []string{"imported", "exists", "failed", "requeued", "outstanding"} {
			upd = upd.Add(expression.Name(k), expression.Value(total[k]))
		}
		u, err := t.updateOf(manifestKey(id), upd, cond)
		if err != nil {
			return 0, err
		}
		items = append(items, types.TransactWriteItem{Update: u})
		_, err = t.API.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return len(entries), nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != len(items) {
			return 0, fmt.Errorf("results table: manifest %s: record devices: %w", id, err)
		}
		if aws.ToString(tce.CancellationReasons[len(entries)].Code) == "ConditionalCheckFailed" {
			return 0, fmt.Errorf("%w: %s", ErrState, id)
		}
		var keep []entry
		for i, e := range entries {
			if aws.ToString(tce.CancellationReasons[i].Code) != "ConditionalCheckFailed" {
				keep = append(keep, e)
			}
		}
		if len(keep) == len(entries) {
			// A conflict with another transaction, or throttling.
			if attempt >= transactAttempts {
				return 0, fmt.Errorf("results table: manifest %s: record devices: %d attempts: %w", id, attempt, err)
			}
			if !backoff.Sleep(ctx, backoff.Full(20*time.Millisecond, time.Second, attempt)) {
				return 0, ctx.Err()
			}
			attempt++
		}
		entries = keep
	}
	return 0, nil
}

// FailedDevices returns the devices of the manifest whose outcome is
// failed.
func (t *Table) FailedDevices(ctx context.Context, id string) ([]Device, error) {
	keyCond := expression.Key(AttrPK).Equal(expression.Value(DevicePrefix + id))
	filter := expression.Name("outcome").Equal(expression.Value(Failed))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).WithFilter(filter).Build()
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewQueryPaginator(t.API, &dynamodb.QueryInput{
		TableName: aws.String(t.Name), KeyConditionExpression: expr.KeyCondition(), FilterExpression: expr.Filter(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var out []Device
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("results table: failed devices of %s: %w", id, err)
		}
		var devs []Device
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &devs); err != nil {
			return nil, err
		}
		out = append(out, devs...)
	}
	return out, nil
}

// StartRetry moves a done manifest to importing for a retry of n failed
// devices and returns the retry's round, which the retried devices'
// messages carry.
func (t *Table) StartRetry(ctx context.Context, id string, n int) (int, error) {
	upd := expression.Set(expression.Name("state"), expression.Value(StateImporting)).
		Set(expression.Name("outstanding"), expression.Value(n)).
		Add(expression.Name("round"), expression.Value(1)).
		Remove(expression.Name("finished")).
		Remove(expression.Name("notified"))
	cond := stateIs(StateDone)
	out, err := t.update(ctx, id, upd, &cond, types.ReturnValueUpdatedNew)
	if isConditionFailed(err) {
		return 0, fmt.Errorf("%w: %s is not done; retry it when it is", ErrState, id)
	}
	if err != nil {
		return 0, fmt.Errorf("results table: manifest %s: %w", id, err)
	}
	var m Manifest
	if err := attributevalue.UnmarshalMap(out.Attributes, &m); err != nil {
		return 0, err
	}
	return m.Round, nil
}

// LeaveRetry takes devs, failed devices whose retry round round started
// (StartRetry) but that were never queued, out of that round: each keeps
// its failed outcome, reason and attempts (so FailedDevices lists it for
// the next retry) and gets round as its round, so that a message of
// theirs that SQS took after all is not counted when it is delivered;
// the manifest's outstanding count goes down by one for each. A device
// already recorded in round (its message was queued after all) is left
// as it is. All on condition that the manifest is importing in round
// (ErrState if not). It returns how many devices it took out; see
// CheckDone for whether the manifest is then done.
func (t *Table) LeaveRetry(ctx context.Context, id string, round int, devs []Device) (int, error) {
	var entries []entry
	for _, d := range devs {
		upd := expression.Set(expression.Name("round"), expression.Value(round))
		cond := expression.Name("outcome").Equal(expression.Value(Failed)).And(expression.Name("round").LessThan(expression.Value(round)))
		u, err := t.updateOf(map[string]types.AttributeValue{
			AttrPK: &types.AttributeValueMemberS{Value: DevicePrefix + id},
			AttrSK: &types.AttributeValueMemberS{Value: d.CertificateID},
		}, upd, &cond)
		if err != nil {
			return 0, err
		}
		entries = append(entries, entry{item: types.TransactWriteItem{Update: u}, delta: map[string]int{"outstanding": -1}})
	}
	cond := stateIs(StateImporting).And(expression.Name("round").Equal(expression.Value(round)))
	left := 0
	for len(entries) > 0 {
		n := min(len(entries), maxEntries)
		k, err := t.transact(ctx, id, entries[:n], &cond)
		left += k
		if errors.Is(err, ErrState) {
			return left, fmt.Errorf("%w: %s is not importing retry %d", ErrState, id, round)
		}
		if err != nil {
			return left, err
		}
		entries = entries[n:]
	}
	return left, nil
}
