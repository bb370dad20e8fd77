//go:build !agentonly

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// storeFlags locate the broker's store and master key; serve, key rotate
// and the --local admin commands share them.
type storeFlags struct {
	dataDir     string
	databaseURL string
	keyFile     string
	sync        string // serve's --store-sync; empty elsewhere
}

// registerSync adds serve's --store-sync flag.
func (f *storeFlags) registerSync(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.sync, "store-sync", "", "how the embedded store commits: full (the default) puts every write, each vend's audit record included, on disk before the answer; normal survives a crash of credbroker but a power cut or OS crash may lose the last commits, for several times the single-connection vend rate (see BENCHMARKS.md). PostgreSQL: set synchronous_commit on the server instead (default $CREDBROKER_STORE_SYNC)")
}

func (f *storeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "", "directory of the embedded store (credbroker.db) and the master key file (default $CREDBROKER_DATA_DIR, else $XDG_DATA_HOME/credbroker or ~/.local/share/credbroker; /var/lib/credbroker for root)")
	fl.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL (postgres://user@host/db) instead of the embedded SQLite store, for several brokers on one site (default $CREDBROKER_DATABASE_URL)")
	fl.StringVar(&f.keyFile, "key-file", "", "master key file (default DATA-DIR/master.key; $CREDBROKER_MASTER_KEY gives the key as a value instead)")
}

// defaultDataDir is where the embedded store lives unless told otherwise.
func (a *app) defaultDataDir() string {
	if d := a.env("CREDBROKER_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 && a.env("HOME") == "" {
		return "/var/lib/credbroker"
	}
	if x := a.env("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "credbroker")
	}
	if h := a.env("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "credbroker")
	}
	return "/var/lib/credbroker"
}

func (f *storeFlags) resolve(a *app) {
	if f.dataDir == "" {
		f.dataDir = a.defaultDataDir()
	}
	if f.databaseURL == "" {
		f.databaseURL = a.env("CREDBROKER_DATABASE_URL")
	}
	if f.keyFile == "" {
		f.keyFile = firstNonEmpty(a.env("CREDBROKER_KEY_FILE"), filepath.Join(f.dataDir, "master.key"))
	}
}

// openStore opens the PostgreSQL store when a URL is given, else the
// embedded SQLite store in the data directory.
func (f *storeFlags) openStore(ctx context.Context, a *app) (credbroker.Store, string, error) {
	f.resolve(a)
	sync := sqlite.SyncFull
	if f.sync != "" {
		if f.databaseURL != "" {
			return nil, "", credbroker.Errorf(credbroker.CodeInvalid, "--store-sync", "applies to the embedded SQLite store, not to PostgreSQL").
				WithFix("drop --store-sync and set synchronous_commit on the PostgreSQL server (or for the credbroker role) instead")
		}
		v, err := sqlite.ParseSync(f.sync)
		if err != nil {
			return nil, "", credbroker.Errorf(credbroker.CodeInvalid, "--store-sync", "unknown setting %q", f.sync).
				WithFix("use full (the default) or normal")
		}
		sync = v
	}
	if f.databaseURL != "" {
		st, err := postgres.Open(ctx, f.databaseURL)
		if err != nil {
			return nil, "", err
		}
		return st, "postgres", nil
	}
	path := filepath.Join(f.dataDir, "credbroker.db")
	st, err := sqlite.Open(ctx, path, func(o *sqlite.Options) { o.Synchronous = sync })
	if err != nil {
		return nil, "", err
	}
	if sync != sqlite.SyncFull {
		path += " (synchronous=" + string(sync) + ")"
	}
	return st, path, nil
}

// keys loads the master key and checks it against the store. A store that
// already holds secrets never gets a new key file: a missing file is an
// error, so that nothing is sealed under a key nobody has.
func (f *storeFlags) keys(ctx context.Context, a *app, st credbroker.Store, log interface{ Info(string, ...any) }) (*seal.Ring, string, error) {
	f.resolve(a)
	var ring *seal.Ring
	var name string
	if v, ok := a.getenv("CREDBROKER_MASTER_KEY"); ok && v != "" {
		r, err := seal.ParseKeys(v)
		if err != nil {
			return nil, "", err
		}
		ring, name = r, "$CREDBROKER_MASTER_KEY"
	} else {
		name = f.keyFile
		_, kcErr := st.KeyCheck(ctx)
		switch {
		case kcErr == nil:
			r, err := seal.Load(f.keyFile)
			if err != nil {
				if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
					return nil, "", credbroker.Errorf(credbroker.CodeUnavailable, "key file",
						"the store holds secrets sealed with a master key, but the key file %s does not exist", f.keyFile).
						WithFix("restore the key file from your backup, or point --key-file at it; no new key was made")
				}
				return nil, "", err
			}
			ring = r
		case credbroker.ErrorCode(kcErr) == credbroker.CodeNotFound:
			r, created, err := seal.LoadOrCreate(f.keyFile, nil)
			if err != nil {
				return nil, "", err
			}
			if created {
				log.Info("created a new master key file; back it up: without it the stored secrets cannot be opened", "path", f.keyFile)
			}
			ring = r
		default:
			return nil, "", kcErr
		}
	}
	if err := broker.CheckKey(ctx, st, ring, name); err != nil {
		return nil, "", err
	}
	return ring, name, nil
}

// readSecret reads a secret from a file, or from stdin for "-"; trailing
// newlines are dropped.
func readSecret(a *app, path, what string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = a.io.Stdin
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return "", credbroker.Errorf(credbroker.CodeInvalid, what, "cannot read %s: %s", path, pathErr(err))
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<10+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	if len(b) > 64<<10 {
		return "", credbroker.Errorf(credbroker.CodeInvalid, what, "larger than 64 KiB")
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
