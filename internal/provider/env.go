package provider

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/thingpress/thingpress/internal/awsiot"
	"github.com/thingpress/thingpress/internal/lambdarun"
	"github.com/thingpress/thingpress/internal/manifest"
	"github.com/thingpress/thingpress/internal/stack"
	"github.com/thingpress/thingpress/internal/trust"
)

// FromEnv builds the Handler the provider function runs, from the
// environment template.yaml sets (internal/stack names it) and the
// standard AWS configuration. Metrics go to stdout, logs to stderr.
func FromEnv(ctx context.Context, env lambdarun.Env, stdout, stderr io.Writer) (*Handler, error) {
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	// The IoT client only makes the preflight's reads.
	f, err := lambdarun.Start(ctx, env, stdout, stderr, awsiot.ClientOptions{MaxConns: 4, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	cfg.Logger, cfg.Metrics = f.Logger, f.Metrics
	cfg.S3, cfg.SQS, cfg.IoT = f.S3, f.SQS, f.IoT
	cfg.Results, cfg.Finish = f.Results(env)
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
	cfg.Slot = strings.ToUpper(env.String(stack.EnvCertificateType, manifest.DefaultSlot))
	if !manifest.ValidSlot(cfg.Slot) {
		return cfg, fmt.Errorf("%w: %s=%q: want one of %s", lambdarun.ErrEnv, stack.EnvCertificateType, cfg.Slot, strings.Join(manifest.Slots, ", "))
	}
	n, err := env.Int(stack.EnvDevicesPerMessage, stack.DefaultDevicesPerMessage, 1, 1000)
	if err != nil {
		return cfg, err
	}
	cfg.DevicesPerMessage = int(n)
	cfg.SummaryPrefix = env.String(stack.EnvSummaryPrefix, stack.DefaultSummaryPrefix)
	if cfg.MaxManifestBytes, err = env.Int(stack.EnvMaxManifestBytes, stack.DefaultMaxManifestBytes, 1, 1<<42); err != nil {
		return cfg, err
	}
	for _, b := range stack.Buckets {
		if name := strings.TrimSpace(env(b.Env)); name != "" {
			if cfg.Buckets == nil {
				cfg.Buckets = map[string]stack.Vendor{}
			}
			cfg.Buckets[name] = b.Vendor
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(env(stack.EnvNoVerifyChain))); v {
	case "", "false":
	case "true":
		cfg.NoVerifyChain = true
	default:
		return cfg, fmt.Errorf("%w: %s=%q: want true or false", lambdarun.ErrEnv, stack.EnvNoVerifyChain, v)
	}
	if pem := strings.TrimSpace(env(stack.EnvTrustAnchorsPEM)); pem != "" {
		if cfg.Trust, err = trust.FromPEM([]byte(pem)); err != nil {
			return cfg, fmt.Errorf("%w: %s: %w", lambdarun.ErrEnv, stack.EnvTrustAnchorsPEM, err)
		}
	} else if cfg.Trust, err = trust.Infineon(); err != nil {
		return cfg, fmt.Errorf("embedded CAs: %w", err)
	}
	return cfg, nil
}
