package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

type logOptions struct {
	level  string
	format string
}

func (o *logOptions) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&o.level, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.format, "log-format", "text", "log format: text or json")
}

// logger is the one place that builds credbroker's slog handler. Logs go to
// stderr; nothing secret is ever logged (credential types implement
// slog.LogValuer and show masked key IDs only).
func (a *app) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(a.logOpts.level) {
	case "debug":
		lvl = slog.LevelDebug
	case "info", "":
		lvl = slog.LevelInfo
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level: unknown level %q; use debug, info, warn or error", a.logOpts.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch a.logOpts.format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: unknown format %q; use text or json", a.logOpts.format)
}
