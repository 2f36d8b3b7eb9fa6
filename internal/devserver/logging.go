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

// serverLogger adapts zl for the Temporal server: filtered by level (at
// least warn; see newServerLogLevel), named "temporal", and with Fatal turned
// into a panic.
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
func serverLogger(zl *zap.Logger, level zap.AtomicLevel) serverlog.Logger {
	if enablesNothing(zl) {
		discard := zapcore.NewCore(
			zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()),
			zapcore.AddSync(io.Discard),
			zapcore.DPanicLevel,
		)
		return serverlog.NewZapLogger(zap.New(discard, zap.WithFatalHook(zapcore.WriteThenPanic)))
	}
	return serverlog.NewZapLogger(zl.
		WithOptions(zap.IncreaseLevel(level), zap.WithFatalHook(zapcore.WriteThenPanic)).
		Named("temporal"))
}

// newServerLogLevel returns the adjustable level for the server's logs: the
// stricter of quietLevel and zl's own level (zap.IncreaseLevel refuses, and
// complains on stderr, when asked to enable a level the core does not).
// Stop raises it to error: while the services go down one by one, the
// server's internal workers log a burst of harmless "Failed to poll" and
// "network dial error" warnings.
func newServerLogLevel(zl *zap.Logger) zap.AtomicLevel {
	lvl := quietLevel
	if own := zapcore.LevelOf(zl.Core()); own != zapcore.InvalidLevel {
		lvl = max(own, quietLevel)
	}
	return zap.NewAtomicLevelAt(lvl)
}

func enablesNothing(zl *zap.Logger) bool {
	lvl := zapcore.LevelOf(zl.Core())
	return lvl == zapcore.InvalidLevel || lvl > zapcore.DPanicLevel
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
