package devserver

import (
	"io"

	sdklog "go.temporal.io/sdk/log"
	serverlog "go.temporal.io/server/common/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// quietLevel is the least severe level the embedded server and its internal
// SDK client may log at: Temporal logs a lot at info level (every service
// start, shard acquisition, cache refresh) that is noise for a dev server.
const quietLevel = zapcore.WarnLevel

// serverLogger adapts zl for the Temporal server: filtered to warn+ and named
// "temporal", and with Fatal turned into a panic.
//
// The panic matters: the server calls Fatal (os.Exit in zap's default) for
// problems such as a port it cannot bind, and an embedded server must not end
// its host process. Fatal calls made on the goroutine running Start are
// recovered and returned as errors (see callRecovering).
//
// Temporal checks Core().Enabled(Fatal) before calling Fatal and silently
// carries on when it is not enabled, which would leave it running with a nil
// listener. A logger that enables nothing (zap.NewNop, or nil Options.Logger)
// is therefore replaced by one that discards output but still panics.
func serverLogger(zl *zap.Logger) serverlog.Logger {
	lvl := zapcore.LevelOf(zl.Core())
	if lvl == zapcore.InvalidLevel || lvl > zapcore.DPanicLevel {
		discard := zapcore.NewCore(
			zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()),
			zapcore.AddSync(io.Discard),
			zapcore.DPanicLevel,
		)
		return serverlog.NewZapLogger(zap.New(discard, zap.WithFatalHook(zapcore.WriteThenPanic)))
	}
	return serverlog.NewZapLogger(quiet(zl).
		WithOptions(zap.WithFatalHook(zapcore.WriteThenPanic)).
		Named("temporal"))
}

// quiet raises zl to at least quietLevel. zap.IncreaseLevel refuses (and
// complains on stderr) when asked to enable a level the logger's core does
// not, so the stricter of the two is used, and a logger that enables
// nothing is returned as is.
func quiet(zl *zap.Logger) *zap.Logger {
	own := zapcore.LevelOf(zl.Core())
	if own == zapcore.InvalidLevel {
		return zl
	}
	return zl.WithOptions(zap.IncreaseLevel(max(own, quietLevel)))
}

// sdkLogger adapts a zap logger to the Temporal SDK's key/value logger, for
// the short-lived client Start uses to set up search attributes.
type sdkLogger struct{ s *zap.SugaredLogger }

var _ sdklog.Logger = sdkLogger{}

func newSDKLogger(zl *zap.Logger) sdkLogger {
	return sdkLogger{s: quiet(zl).Named("devserver-client").Sugar()}
}

func (l sdkLogger) Debug(msg string, keyvals ...any) { l.s.Debugw(msg, keyvals...) }
func (l sdkLogger) Info(msg string, keyvals ...any)  { l.s.Infow(msg, keyvals...) }
func (l sdkLogger) Warn(msg string, keyvals ...any)  { l.s.Warnw(msg, keyvals...) }
func (l sdkLogger) Error(msg string, keyvals ...any) { l.s.Errorw(msg, keyvals...) }
