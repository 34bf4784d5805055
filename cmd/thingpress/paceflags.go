package main

import (
	"fmt"
	"math"

	"github.com/spf13/pflag"

	"github.com/thingpress/thingpress/internal/ratelimit"
)

// paceOptions are the flags that pace a command's IoT calls, the same for
// import, bind, verify and remove: --rate for the operations at the
// lowest quota the command calls per device, --quota for any operation,
// --workers.
type paceOptions struct {
	rate    float64
	quotas  []string
	workers int
}

// bind binds the flags; ceiling names the operations --rate sets, what
// says what the command does with a device ("imported").
func (o *paceOptions) bind(f *pflag.FlagSet, ceiling, what string) {
	f.Float64Var(&o.rate, "rate", 10, ceiling+" calls per second (AWS default quota 10); the other operations follow as needed")
	f.StringArrayVar(&o.quotas, "quota", nil, "override one operation's rate, e.g. --quota AttachPolicy=15 (repeatable)")
	f.IntVar(&o.workers, "workers", 0, "devices "+what+" at once (default: enough to keep the slowest quota busy at 100 ms latency)")
}

// check validates the flags before anything starts: --quota names an
// operation of ratelimit's table with a positive rate.
func (o *paceOptions) check() error {
	if !(o.rate > 0) || math.IsInf(o.rate, 0) {
		return usageError{fmt.Errorf("--rate must be a positive number")}
	}
	if o.workers < 0 {
		return usageError{fmt.Errorf("--workers %d: want a positive count, or 0 for the default", o.workers)}
	}
	return applyQuotas(map[string]float64{}, o.quotas)
}

// table returns the quota table of a command: DefaultQuotas with each of
// ceiling at --rate, each operation of follow (calls per device) raised
// to at least --rate times its calls, then every --quota.
func (o *paceOptions) table(ceiling []string, follow map[string]int) (map[string]float64, error) {
	q := ratelimit.DefaultQuotas()
	for _, op := range ceiling {
		q[op] = o.rate
	}
	for op, n := range follow {
		q[op] = max(q[op], o.rate*float64(n))
	}
	return q, applyQuotas(q, o.quotas)
}

// workerCount is --workers, or enough devices at once to keep --rate
// busy (see ratelimit.Workers).
func (o *paceOptions) workerCount(per ratelimit.PerDevice) int {
	if o.workers > 0 {
		return o.workers
	}
	return ratelimit.Workers(o.rate, per, 512)
}
