//go:build !agentonly

package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
)

func (a *app) auditCommand() *cobra.Command {
	bf := &brokerFlags{}
	var out *outputFlag
	var since, until, plan, connector, outcome, action string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [filters]",
		Short: "List the audit trail: every vend (granted or refused) and every admin change",
		Long: `List audit records, oldest first. Every vend, granted or refused, and every admin
change is recorded: time, token, plan, build, job, connector, role, access key
ID, expiration, outcome and error code. Never a secret.

Records are hash-chained; 'credbroker audit verify' checks the chain.`,
		Example: `  credbroker audit --since 24h --outcome refused
  credbroker audit --plan OPS-DEPLOY --connector deploy --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := credbroker.AuditFilter{Plan: plan, Connector: connector, Outcome: outcome, Action: action, Limit: limit}
			var err error
			if f.Since, err = parseSince("--since", since); err != nil {
				return err
			}
			if f.Until, err = parseSince("--until", until); err != nil {
				return err
			}
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			recs, err := c.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, recs)
			}
			var rows [][]string
			for _, r := range recs {
				exp := "-"
				if !r.Expiration.IsZero() {
					exp = r.Expiration.UTC().Format(time.RFC3339)
				}
				build := r.Plan
				if r.Build != "" {
					build += "#" + r.Build
				}
				outcome := r.Outcome
				if r.ErrorCode != "" {
					outcome += " (" + r.ErrorCode + ")"
				}
				rows = append(rows, []string{fmt.Sprint(r.Seq), r.Time.UTC().Format(time.RFC3339), r.Action, dash(r.TokenID), dash(build),
					dash(r.Connector), dash(credbroker.MaskKeyID(r.AccessKeyID)), exp, outcome})
			}
			return table(a.io.Stdout, []string{"SEQ", "TIME", "ACTION", "TOKEN", "BUILD", "CONNECTOR", "KEY", "EXPIRES", "OUTCOME"}, rows)
		},
	}
	out = addTableOutput(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "records at or after: a duration ago (24h) or a time (RFC 3339)")
	f.StringVar(&until, "until", "", "records before: a duration ago or a time (RFC 3339)")
	f.StringVar(&plan, "plan", "", "only this plan")
	f.StringVar(&connector, "connector", "", "only this connector")
	f.StringVar(&outcome, "outcome", "", "only granted or refused")
	f.StringVar(&action, "action", "", "only this action (vend, connector.create, token.revoke, ...)")
	f.IntVar(&limit, "limit", 1000, "at most this many records")
	bf.register(cmd)
	cmd.AddCommand(a.auditVerify(bf))
	return cmd
}

func parseSince(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, credbroker.Errorf(credbroker.CodeInvalid, flag, "%q is neither a duration nor an RFC 3339 time", s).
			WithFix("write 24h or 2026-11-25T00:00:00Z")
	}
	return t, nil
}

func (a *app) auditVerify(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	var sf storeFlags
	var local bool
	var head string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit chain: detects edited, deleted and reordered records",
		Long: `Recompute the hash chain of the whole audit trail and compare its end with the
head the broker moves at every append. Each problem is printed with the record's
sequence number; the exit code is 1 when there is any.

The chain proves the trail was not changed by someone who did not also recompute
it. Record the printed head hash somewhere else (a ticket, another system) and
pass it later with --head to prove nothing before it was rewritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep *credbroker.AuditReport
			if local {
				st, _, err := sf.openStore(cmd.Context(), a)
				if err != nil {
					return err
				}
				defer st.Close()
				if rep, err = broker.VerifyStore(cmd.Context(), st); err != nil {
					return err
				}
			} else {
				c, err := bf.client(a)
				if err != nil {
					return err
				}
				if rep, err = c.VerifyAudit(cmd.Context()); err != nil {
					return err
				}
			}
			if head != "" {
				if err := checkHead(cmd, a, bf, &sf, local, head, rep); err != nil {
					return err
				}
			}
			if out.is("json") {
				if err := writeJSON(a.io.Stdout, rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintf(a.io.Stdout, "record %d: %s\n", p.Seq, p.Problem)
				}
				if rep.OK() {
					fmt.Fprintf(a.io.Stdout, "audit chain verified: %d records, head %d %s\n", rep.Records, rep.HeadSeq, rep.HeadHash)
				}
			}
			if !rep.OK() {
				return &exitError{code: 1, err: credbroker.Errorf(credbroker.CodeConflict, "audit", "the audit chain is broken: %d problem(s)", len(rep.Problems))}
			}
			return nil
		},
	}
	out = addTableOutput(cmd)
	sf.register(cmd)
	cmd.Flags().BoolVar(&local, "local", false, "read the store directly (on the broker host) instead of asking a broker")
	cmd.Flags().StringVar(&head, "head", "", "SEQ:HASH recorded earlier; the record at SEQ must still carry HASH")
	return cmd
}

// checkHead adds a problem when the record at an earlier head no longer
// carries the hash recorded then.
func checkHead(cmd *cobra.Command, a *app, bf *brokerFlags, sf *storeFlags, local bool, head string, rep *credbroker.AuditReport) error {
	seqS, hash, ok := strings.Cut(head, ":")
	var seq int64
	if _, err := fmt.Sscan(seqS, &seq); !ok || err != nil || seq <= 0 || len(hash) != 64 {
		return credbroker.Errorf(credbroker.CodeInvalid, "--head", "expected SEQ:HASH as printed by audit verify")
	}
	f := credbroker.AuditFilter{AfterSeq: seq - 1, Limit: 1}
	var recs []credbroker.AuditRecord
	if local {
		st, _, err := sf.openStore(cmd.Context(), a)
		if err != nil {
			return err
		}
		defer st.Close()
		recs, err = st.ListAudit(cmd.Context(), f)
		if err != nil {
			return err
		}
	} else {
		c, err := bf.client(a)
		if err != nil {
			return err
		}
		if recs, err = c.ListAudit(cmd.Context(), f); err != nil {
			return err
		}
	}
	if len(recs) == 0 || recs[0].Seq != seq || recs[0].Hash != hash {
		rep.Problems = append(rep.Problems, credbroker.AuditProblem{Seq: seq, Problem: "does not carry the head hash recorded earlier: the trail up to it was rewritten"})
	}
	return nil
}
