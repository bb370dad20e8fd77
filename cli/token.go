//go:build !agentonly

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
)

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Create, list and revoke API tokens",
		Long: `Tokens authenticate callers of the broker:

  admin  manages connectors, variables and tokens, and reads the audit
  agent  vends credentials and reads variables, for the plans its pattern
         matches only (--plans 'OPS-*', --plans OPS-DEPLOY, --plans '*')

A token is shown once, when it is created; the broker keeps only its hash.`,
	}
	bf := &brokerFlags{}
	bf.register(cmd)
	cmd.AddCommand(a.tokenCreate(bf), a.tokenList(bf), a.tokenRevoke(bf))
	return cmd
}

func (a *app) tokenCreate(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	var sf storeFlags
	var spec credbroker.TokenSpec
	var role string
	var expires time.Duration
	var local bool
	cmd := &cobra.Command{
		Use:   "create --name NAME --role admin|agent|metrics [--plans PATTERN]",
		Short: "Create a token and print it once",
		Example: `  # The first admin token of a new broker, on the broker host
  credbroker token create --local --role admin --name alice

  # An agent token for the OPS project's builds, valid 90 days
  credbroker token create --role agent --name bamboo-ops --plans 'OPS-*' --expires 2160h
  credbroker token create --role metrics --name prometheus > prometheus.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Role = credbroker.TokenRole(role)
			spec.ExpiresInSeconds = int(expires / time.Second)
			var nt *credbroker.NewToken
			if local {
				log, err := a.logger(a.io.Stderr)
				if err != nil {
					return err
				}
				st, _, err := sf.openStore(cmd.Context(), a)
				if err != nil {
					return err
				}
				defer st.Close()
				ring, _, err := sf.keys(cmd.Context(), a, st, log)
				if err != nil {
					return err
				}
				svc, err := broker.New(broker.Options{Store: st, Keys: ring, Issuer: noIssuer{}, Logger: log})
				if err != nil {
					return err
				}
				defer svc.Close()
				if nt, err = svc.CreateTokenLocal(cmd.Context(), spec); err != nil {
					return err
				}
			} else {
				c, err := bf.client(a)
				if err != nil {
					return err
				}
				if nt, err = c.CreateToken(cmd.Context(), spec); err != nil {
					return err
				}
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, nt)
			}
			fmt.Fprintln(a.io.Stdout, nt.Secret)
			fmt.Fprintf(a.io.Stderr, "credbroker: created %s token %s (%s); it is shown only this once: store it now (e.g. in a file of mode 0600 for --token-file)\n", nt.Role, nt.ID, nt.Name)
			return nil
		},
	}
	out = addTableOutput(cmd)
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "who or what uses the token")
	f.StringVar(&role, "role", "agent", "admin, agent or metrics (reads /metrics only)")
	f.StringVar(&spec.Plans, "plans", "", "agent: plan keys it may act for, a glob (or comma-separated globs)")
	f.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	f.BoolVar(&local, "local", false, "create it directly in the store (on the broker host, with --data-dir or --database-url), for the first admin token")
	return cmd
}

func (a *app) tokenList(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, toks)
			}
			var rows [][]string
			now := time.Now()
			for _, t := range toks {
				state := "active"
				switch {
				case !t.RevokedAt.IsZero():
					state = "revoked " + t.RevokedAt.UTC().Format(time.RFC3339)
				case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
					state = "expired"
				case !t.ExpiresAt.IsZero():
					state = "expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
				}
				rows = append(rows, []string{t.ID, t.Name, string(t.Role), dash(t.Plans), t.CreatedAt.UTC().Format(time.RFC3339), state})
			}
			return table(a.io.Stdout, []string{"ID", "NAME", "ROLE", "PLANS", "CREATED", "STATE"}, rows)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) tokenRevoke(bf *brokerFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token at once",
		Long: `Revoke a token at once, by its ID (tok_ and 16 hexadecimal digits, as
token list shows it).

Given a whole token (ID.secret), as when one is pasted from a file, it
revokes that token by its ID: the secret is not sent, nor printed. Anything
else is refused without being repeated.`,
		Example: `  credbroker token revoke tok_0123456789abcdef
  credbroker token revoke "$(cat leaked.token)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, ok := broker.TokenID(args[0])
			if !ok {
				return credbroker.Errorf(credbroker.CodeInvalid, "ID", "the argument is neither a token ID nor a whole token").
					WithFix("give the ID that `credbroker token list` shows: tok_ and 16 hexadecimal digits")
			}
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "revoked token %s\n", id)
			return nil
		},
	}
	return cmd
}
