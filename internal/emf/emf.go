package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Count is the CloudWatch unit of every metric thingpress emits.
const Count = "Count"

// maxDimensionValue is CloudWatch's limit on a dimension value, in
// characters.
const maxDimensionValue = 1024

// Metric is one value.
type Metric struct {
	Name  string
	Value float64
	// Unit is a CloudWatch unit; empty means Count.
	Unit string
}

// Logger writes EMF lines. It is safe for concurrent use.
type Logger struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	now       func() time.Time
}

// New returns a Logger that writes to w in namespace.
func New(w io.Writer, namespace string) *Logger {
	return &Logger{w: w, namespace: namespace, now: time.Now}
}

// SetClock replaces time.Now, for tests.
func (l *Logger) SetClock(now func() time.Time) { l.now = now }

type definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes one line with metrics under dims (dimension name to
// value), or under no dimension when dims is empty. Dimension values longer than CloudWatch
// allows are cut; empty ones are replaced by "-" (CloudWatch rejects an
// empty value). A nil Logger emits nothing.
func (l *Logger) Emit(dims map[string]string, metrics ...Metric) error {
	if l == nil || len(metrics) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(dims))
	doc := make(map[string]any, len(names)+len(metrics)+1)
	d := directive{Namespace: l.namespace, Dimensions: [][]string{names}}
	if names == nil {
		d.Dimensions = [][]string{{}}
	}
	for _, n := range names {
		doc[n] = dimensionValue(dims[n])
	}
	for _, m := range metrics {
		if _, clash := doc[m.Name]; clash || m.Name == "_aws" {
			return fmt.Errorf("emf: metric %q clashes with a dimension", m.Name)
		}
		unit := m.Unit
		if unit == "" {
			unit = Count
		}
		d.Metrics = append(d.Metrics, definition{Name: m.Name, Unit: unit})
		doc[m.Name] = m.Value
	}
	doc["_aws"] = metadata{Timestamp: l.now().UnixMilli(), CloudWatchMetrics: []directive{d}}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: %w", err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		return fmt.Errorf("emf: %w", err)
	}
	return nil
}

func dimensionValue(s string) string {
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) <= maxDimensionValue {
		return s
	}
	r := []rune(s)
	return string(r[:maxDimensionValue])
}
