package logging

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestTemporalAdapterKeepsFieldsStructured(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := NewTemporal(zap.New(core)).With("Region", "cn-hangzhou")
	l.Info("batch done", "Batch", 3, "Remediated", 18, "dangling")

	entries := logs.All()
	require.Len(t, entries, 1)
	got := entries[0].ContextMap()
	require.Equal(t, "cn-hangzhou", got["Region"])
	require.EqualValues(t, 3, got["Batch"])
	require.EqualValues(t, 18, got["Remediated"])
	require.Equal(t, "(missing value)", got["dangling"])
	b, err := json.Marshal(got)
	require.NoError(t, err)
	require.Contains(t, string(b), `"Remediated":18`)
}

func TestNewRejectsUnknownLevel(t *testing.T) {
	_, err := New("loud")
	require.ErrorContains(t, err, "allowed values are debug, info, warn, error")
	l, err := New("warn")
	require.NoError(t, err)
	require.False(t, l.Core().Enabled(zapcore.InfoLevel))
	require.True(t, l.Core().Enabled(zapcore.WarnLevel))
}
