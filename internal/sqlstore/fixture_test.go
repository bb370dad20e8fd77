//go:build unix

package sqlstore_test

// This file writes the databases in testdata that older versions of
// credbroker left behind, which upgrade_test.go opens with this one. It
// uses nothing but the API that every version since the first store has,
// so that it builds in a checkout of an older commit. To make the fixtures
// of commit C, whose newest migration is V:
//
//	git worktree add --detach /tmp/old C
//	mkdir -p /tmp/old/internal/sqlstore
//	cp internal/sqlstore/fixture_test.go /tmp/old/internal/sqlstore/
//	cd /tmp/old && go test ./internal/sqlstore -run TestWriteFixtures -v \
//		-write-fixtures "$OLDPWD/internal/sqlstore/testdata" -fixture-version V \
//		-pg-dump /usr/lib/postgresql/15/bin/pg_dump
//
// It writes testdata/sqlite-vV.db (VACUUM INTO of the store's file) and
// testdata/postgres-vV.sql (pg_dump --inserts of the store's database,
// without psql's backslash commands).

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/sqlite"
)

var (
	writeFixtures  = flag.String("write-fixtures", "", "write the fixtures of this checkout's stores into this directory")
	fixtureVersion = flag.Int("fixture-version", 0, "the newest migration this checkout has, for the fixtures' names")
	pgDump         = flag.String("pg-dump", "pg_dump", "the pg_dump of the test server's PostgreSQL")
)

// fixtureTime is when the fixture's first change was made.
var fixtureTime = time.Date(2026, 11, 20, 9, 30, 0, 123456789, time.UTC)

// populate makes the changes every fixture holds, in order, through the
// store's API; the audit records get fixed times, so the trail's hashes
// are the same whichever version makes them.
func populate(ctx context.Context, st credbroker.Store) error {
	at := func(minutes int) time.Time { return fixtureTime.Add(time.Duration(minutes) * time.Minute) }
	admin := func(minutes int, action, detail string) *credbroker.AuditRecord {
		return &credbroker.AuditRecord{Time: at(minutes), Action: action, TokenID: "tok-admin",
			Outcome: credbroker.OutcomeGranted, Detail: detail}
	}
	base := &credbroker.Connector{
		ID: "con-base", Name: "base-keys", Description: "the account's base keys",
		Principal: credbroker.PrincipalSession, Base: credbroker.BaseKeys, AccessKeyID: "AKIAFIXTUREBASE0001",
		Secret: credbroker.Sealed{KeyVersion: 1, Blob: []byte("sealed:con-base:v1")}, Region: "eu-west-1",
		DefaultDuration: time.Hour, MaxDuration: 12 * time.Hour,
		Scope: credbroker.Scope{Kind: credbroker.ScopeSystem}, CreatedAt: at(0), UpdatedAt: at(0),
	}
	deploy := &credbroker.Connector{
		ID: "con-deploy", Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseConnector,
		BaseConnector: "con-base", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/deploy",
		ExternalID: "ext-42", Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		PolicyARNs:      []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		DefaultDuration: 15 * time.Minute, MaxDuration: time.Hour,
		Scope:      credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"},
		AllowPlans: []string{"OPS-DEPLOY", "OPS-*"}, SessionMode: credbroker.SessionPerBuild,
		Tags:              []credbroker.Tag{{Key: "team", Value: "ops"}},
		TransitiveTagKeys: []string{"team"}, STSEndpoints: []string{"https://sts.eu-west-1.amazonaws.com"},
		Retry:     credbroker.RetrySpec{MaxAttempts: 3, MaxBackoff: 2 * time.Second},
		CreatedAt: at(1), UpdatedAt: at(1),
	}
	steps := []func() error{
		func() error {
			return st.InitKeyCheck(ctx, credbroker.Sealed{KeyVersion: 1, Blob: []byte("sealed:keycheck:v1")})
		},
		func() error {
			return st.CreateConnector(ctx, base, admin(0, credbroker.ActionConnectorCreate, "base-keys"))
		},
		func() error {
			return st.CreateConnector(ctx, deploy, admin(1, credbroker.ActionConnectorCreate, "deploy"))
		},
		func() error {
			deploy.Description, deploy.DisableTags, deploy.UpdatedAt = "deploys OPS", true, at(2)
			return st.UpdateConnector(ctx, deploy, admin(2, credbroker.ActionConnectorUpdate, "deploy"))
		},
		func() error {
			return st.CreateToken(ctx, &credbroker.Token{ID: "tok-agent", Name: "agent", Role: credbroker.RoleAgent,
				Plans: "OPS-*", Hash: []byte("hash-of-agent-token-0123456789ab"), CreatedAt: at(3), ExpiresAt: at(3 + 60*24*90)}, nil)
		},
		func() error {
			return st.CreateToken(ctx, &credbroker.Token{ID: "tok-old", Name: "retired", Role: credbroker.RoleAdmin,
				Hash: []byte("hash-of-old-token-0123456789abcd"), CreatedAt: at(4)}, nil)
		},
		func() error {
			return st.RevokeToken(ctx, "tok-old", at(5), admin(5, credbroker.ActionTokenRevoke, "tok-old"))
		},
		func() error {
			return st.SetVariable(ctx, &credbroker.Variable{Name: "region", Value: "eu-west-1", UpdatedAt: at(6)}, nil)
		},
		func() error {
			return st.SetVariable(ctx, &credbroker.Variable{Plan: "OPS-DEPLOY", Name: "deployConnector", Value: "deploy", UpdatedAt: at(7)}, nil)
		},
		func() error {
			return st.SetVariable(ctx, &credbroker.Variable{Plan: "OPS-DEPLOY", Name: "awsSecretKeyPassword", Secret: true,
				Sealed: credbroker.Sealed{KeyVersion: 1, Blob: []byte("sealed:var:v1")}, UpdatedAt: at(8)}, nil)
		},
		func() error {
			var vends []*credbroker.AuditRecord
			for i := range 70 {
				vends = append(vends, &credbroker.AuditRecord{
					Time: at(10 + i), Action: credbroker.ActionVend, TokenID: "tok-agent", Plan: "OPS-DEPLOY",
					Build: fmt.Sprint(100 + i), Job: "OPS-DEPLOY-JOB1", Task: "deploy", Connector: "deploy",
					RoleARN: deploy.RoleARN, AccessKeyID: fmt.Sprintf("ASIAFIXTURE%05d", i), Expiration: at(25 + i),
					Outcome: credbroker.OutcomeGranted,
				})
			}
			vends[69].Outcome, vends[69].ErrorCode, vends[69].Expiration, vends[69].AccessKeyID = credbroker.OutcomeRefused, "forbidden", time.Time{}, ""
			return st.AppendAudit(ctx, vends...)
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("fixture step %d: %w", i+1, err)
		}
	}
	return nil
}

// TestWriteFixtures writes this checkout's fixtures when -write-fixtures
// names a directory; it does nothing otherwise.
func TestWriteFixtures(t *testing.T) {
	if *writeFixtures == "" {
		return // the fixtures are written by hand, from older commits
	}
	if *fixtureVersion <= 0 {
		t.Fatal("-fixture-version must give the newest migration this checkout has")
	}
	ctx := t.Context()
	dir, err := filepath.Abs(*writeFixtures)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "credbroker.db")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := populate(ctx, st); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		out := filepath.Join(dir, fmt.Sprintf("sqlite-v%d.db", *fixtureVersion))
		os.Remove(out)
		if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testpeers.Postgres(t)
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := populate(ctx, st); err != nil {
			t.Fatal(err)
		}
		st.Close()
		dump, err := exec.CommandContext(ctx, *pgDump, "--inserts", "--no-owner", "--no-privileges", "--dbname", dsn).Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		var keep []string
		for _, line := range strings.Split(string(dump), "\n") {
			if !strings.HasPrefix(line, `\`) {
				keep = append(keep, line)
			}
		}
		out := filepath.Join(dir, fmt.Sprintf("postgres-v%d.sql", *fixtureVersion))
		if err := os.WriteFile(out, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}
