// Package logging builds the project's zap logger and bridges it into the
// Temporal SDK, so that SDK, workflow and activity logs come out as the same
// structured JSON lines as everything else.
package logging

import (
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger to stderr at level ("debug", "info", "warn",
// "error"). Timestamps are ISO-8601 so that log lines line up with the
// Temporal UI's event times.
func New(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(strings.ToLower(level))
	if err != nil {
		return nil, fmt.Errorf("log level %q: allowed values are debug, info, warn, error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), lvl)
	return zap.New(core, zap.AddCaller()), nil
}

// Temporal adapts a zap logger to the Temporal SDK's log.Logger. Key-value
// pairs become zap fields, so `logger.Info("msg", "InstanceID", id)` in a
// workflow is a structured field, not text.
type Temporal struct {
	z *zap.Logger
}

var (
	_ log.Logger          = (*Temporal)(nil)
	_ log.WithLogger      = (*Temporal)(nil)
	_ log.WithSkipCallers = (*Temporal)(nil)
)

// NewTemporal wraps z. The extra caller skip points log lines at the code
// that called the SDK logger, not at this adapter.
func NewTemporal(z *zap.Logger) *Temporal {
	return &Temporal{z: z.WithOptions(zap.AddCallerSkip(1))}
}

func (t *Temporal) Debug(msg string, keyvals ...any) { t.z.Debug(msg, fields(keyvals)...) }
func (t *Temporal) Info(msg string, keyvals ...any)  { t.z.Info(msg, fields(keyvals)...) }
func (t *Temporal) Warn(msg string, keyvals ...any)  { t.z.Warn(msg, fields(keyvals)...) }
func (t *Temporal) Error(msg string, keyvals ...any) { t.z.Error(msg, fields(keyvals)...) }

// With returns a logger that adds keyvals to every line.
func (t *Temporal) With(keyvals ...any) log.Logger {
	return &Temporal{z: t.z.With(fields(keyvals)...)}
}

// WithCallerSkip lets the SDK's replay-aware wrapper keep caller lines right.
func (t *Temporal) WithCallerSkip(depth int) log.Logger {
	return &Temporal{z: t.z.WithOptions(zap.AddCallerSkip(depth))}
}

func fields(keyvals []any) []zap.Field {
	out := make([]zap.Field, 0, (len(keyvals)+1)/2)
	for i := 0; i < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		if i+1 >= len(keyvals) {
			out = append(out, zap.Any(key, "(missing value)"))
			break
		}
		out = append(out, zap.Any(key, keyvals[i+1]))
	}
	return out
}
