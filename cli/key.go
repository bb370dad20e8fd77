//go:build !agentonly

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/seal"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the master key that seals stored secrets",
	}
	var sf storeFlags
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new master key version and re-wrap every stored secret under it",
		Long: `Add a new key version to the key file (written atomically; old versions stay,
so nothing sealed under them is lost), then re-wrap every stored secret's data key
under the new version, one record at a time. Running brokers keep serving: they
read the new key version from the key file when they first meet it.

Run it on the broker host with the same --data-dir or --database-url and
--key-file as the broker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log, err := a.logger(a.io.Stderr)
			if err != nil {
				return err
			}
			if v := a.env("CREDBROKER_MASTER_KEY"); v != "" {
				return credbroker.Errorf(credbroker.CodeInvalid, "CREDBROKER_MASTER_KEY", "the master key is given as a value, which key rotate cannot change").
					WithFix(`add a new version to the value yourself ("1:OLD,2:NEW"), restart the brokers, then run key rotate with it`)
			}
			st, _, err := sf.openStore(ctx, a)
			if err != nil {
				return err
			}
			defer st.Close()
			ring, _, err := sf.keys(ctx, a, st, log)
			if err != nil {
				return err
			}
			v, err := seal.Rotate(sf.keyFile, nil)
			if err != nil {
				return err
			}
			if err := ring.Reload(); err != nil {
				return err
			}
			n, err := broker.Rewrap(ctx, st, ring, "local", func() credbroker.AuditRecord { return credbroker.AuditRecord{Time: time.Now()} })
			if err != nil {
				return fmt.Errorf("key version %d was added to %s, but re-wrapping stopped after %d secrets (run key rotate again to finish): %w", v, sf.keyFile, n, err)
			}
			counts, err := st.CountSealed(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "master key version %d added to %s; %d secrets re-wrapped; secrets per key version: %v\n", v, sf.keyFile, n, counts)
			return nil
		},
	}
	sf.register(rotate)
	cmd.AddCommand(rotate)
	return cmd
}
