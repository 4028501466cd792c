package ws

import (
	"context"
	"fmt"
	"log/slog"
)

// discardLogger is the logger of a config without one: silent.
var discardLogger = slog.New(slog.DiscardHandler)

// gnetLogger adapts a *slog.Logger to gnet's logging.Logger. gnet installs
// the logger of the latest engine as its process-wide default, so with
// this adapter gnet's own messages stay silent unless a Logger is set.
// Fatalf logs at Error: nothing gnet reports may exit the process.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args) }
func (g gnetLogger) Infof(format string, args ...any)  { g.logf(slog.LevelInfo, format, args) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args) }
func (g gnetLogger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.logf(slog.LevelError, format, args) }

func (g gnetLogger) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return
	}
	g.l.Log(ctx, level, "ws: gnet: "+fmt.Sprintf(format, args...))
}
