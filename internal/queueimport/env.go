package queueimport

import (
	"context"
	"io"
	"time"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/ratelimit"
	"github.com/thingpress/thingpress/internal/stack"
)

// DefaultConcurrency is assumed when IMPORTER_MAX_CONCURRENCY is not set:
// the lowest MaximumConcurrency an SQS event source takes.
const DefaultConcurrency = 2

// callTimeout bounds one IoT call: short, so that an invocation near its
// deadline is not held by a hung connection.
const callTimeout = 10 * time.Second

// FromEnv builds the Handler the importer function runs, from the
// environment template.yaml sets (internal/stack names it) and the
// standard AWS configuration. Metrics go to stdout, logs to stderr.
func FromEnv(ctx context.Context, env lambdarun.Env, stdout, stderr io.Writer) (*Handler, error) {
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	// Enough connections for the workers; the importer retries itself.
	f, err := lambdarun.Start(ctx, env, stdout, stderr, awsiot.ClientOptions{MaxConns: 32, Timeout: callTimeout})
	if err != nil {
		return nil, err
	}
	cfg.Logger, cfg.Metrics = f.Logger, f.Metrics
	cfg.IoT, cfg.SQS = f.IoT, f.SQS
	cfg.Results, cfg.Finish = f.Results(env)
	if env.String(stack.EnvImporterConcurrency, "") == "" {
		cfg.Logger.Warn("IMPORTER_MAX_CONCURRENCY is not set: pacing for the lowest event source concurrency",
			"assumed", DefaultConcurrency)
	}
	return New(cfg)
}

// ConfigFromEnv reads the settings of Config from the environment,
// without the clients, logger and metrics.
func ConfigFromEnv(env lambdarun.Env) (Config, error) {
	var cfg Config
	var err error
	if cfg.QueueURL, cfg.Target, err = env.Job(); err != nil {
		return cfg, err
	}
	// Unset quota variables mean AWS's default quotas.
	def := ratelimit.DefaultQuotas()
	reg, err := env.Float(stack.EnvQuotaRegister, def[ratelimit.OpRegisterCertificateWithoutCA])
	if err != nil {
		return cfg, err
	}
	pol, err := env.Float(stack.EnvQuotaAttachPolicy, def[ratelimit.OpAttachPolicy])
	if err != nil {
		return cfg, err
	}
	n, err := env.Int(stack.EnvImporterConcurrency, DefaultConcurrency, 1, 1000)
	if err != nil {
		return cfg, err
	}
	cfg.Quotas = ShareQuotas(reg, pol, int(n), ratelimit.PerDevice{
		Policies: len(cfg.Target.Policies), Groups: len(cfg.Target.ThingGroups),
	})
	return cfg, nil
}
