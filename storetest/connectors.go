package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// sampleConnector has every field set, durations and times with
// nanoseconds.
func sampleConnector(id, name string) *credbroker.Connector {
	return &credbroker.Connector{
		ID:                id,
		Name:              name,
		Description:       "deploys the " + name + " stack",
		Principal:         credbroker.PrincipalAssumedRole,
		Base:              credbroker.BaseKeys,
		AccessKeyID:       "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey:   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		Secret:            credbroker.Sealed{KeyVersion: 1, Blob: []byte("sealed\x00" + id)},
		Region:            "eu-west-1",
		RoleARN:           "arn:aws:iam::123456789012:role/" + name,
		ExternalID:        "ext-" + id,
		FederatedName:     "fed-" + name,
		Policy:            `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		PolicyARNs:        []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
		DefaultDuration:   15 * time.Minute,
		MaxDuration:       time.Hour + time.Nanosecond,
		Scope:             credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"},
		AllowPlans:        []string{"OPS-*", "OPS-DEPLOY"},
		AllowedAccountIDs: []string{"123456789012", "210987654321"},
		SessionMode:       credbroker.SessionPerPlan,
		Tags:              []credbroker.Tag{{Key: "team", Value: "ops"}, {Key: "cost-centre", Value: "42"}},
		TransitiveTagKeys: []string{"team"},
		DisableTags:       true,
		STSEndpoints:      []string{"https://sts.eu-west-1.amazonaws.com", "https://sts.amazonaws.com"},
		Retry:             credbroker.RetrySpec{MaxAttempts: 3, MaxBackoff: 1500 * time.Millisecond},
		CreatedAt:         t0,
		UpdatedAt:         t0.Add(time.Second),
	}
}

// stored is c as a store gives it back: no secret in the clear, times in
// UTC microseconds.
func stored(c *credbroker.Connector) *credbroker.Connector {
	out := *c
	out.SecretAccessKey = ""
	out.CreatedAt, out.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	return &out
}

// getConnector reads a connector or fails t.
func getConnector(t *testing.T, s credbroker.Store, idOrName string) *credbroker.Connector {
	t.Helper()
	c, err := s.GetConnector(t.Context(), idOrName)
	must(t, err)
	return c
}

// connectorNames lists the stored connectors' names.
func connectorNames(t *testing.T, s credbroker.Store) []string {
	t.Helper()
	cs, err := s.ListConnectors(t.Context())
	must(t, err)
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func testConnectorCRUD(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	deploy := sampleConnector("c-deploy", "deploy")
	must(t, s.CreateConnector(ctx, deploy, nil))
	if deploy.Revision != 1 {
		t.Errorf("created connector has revision %d, want 1", deploy.Revision)
	}
	wantEqual(t, "by ID", getConnector(t, s, "c-deploy"), stored(deploy))
	wantEqual(t, "by name", getConnector(t, s, "deploy"), stored(deploy))

	alpha := sampleConnector("c-alpha", "alpha")
	alpha.Base, alpha.AccessKeyID, alpha.Secret = credbroker.BaseDefault, "", credbroker.Sealed{}
	must(t, s.CreateConnector(ctx, alpha, nil))
	wantEqual(t, "list", connectorNames(t, s), []string{"alpha", "deploy"})
	wantEqual(t, "connector without secret", getConnector(t, s, "alpha"), stored(alpha))

	// An update with the revision read succeeds and moves the revision.
	edit := getConnector(t, s, "deploy")
	edit.Description = "changed"
	edit.PolicyARNs = nil
	edit.Secret = credbroker.Sealed{KeyVersion: 2, Blob: []byte("new secret")}
	edit.UpdatedAt = t0.Add(time.Hour)
	must(t, s.UpdateConnector(ctx, edit, nil))
	if edit.Revision != 2 {
		t.Errorf("updated connector has revision %d, want 2", edit.Revision)
	}
	wantEqual(t, "after update", getConnector(t, s, "c-deploy"), stored(edit))

	// One made to the revision before is refused and changes nothing.
	stale := *deploy
	stale.Description = "stale"
	e := wantCode(t, s.UpdateConnector(ctx, &stale, nil), credbroker.CodeConflict)
	if !strings.Contains(e.Message, "revision 2") {
		t.Errorf("conflict %q does not name the stored revision 2", e.Message)
	}
	wantEqual(t, "after stale update", getConnector(t, s, "c-deploy"), stored(edit))

	// An update keeps CreatedAt even when the caller lost it.
	again := getConnector(t, s, "deploy")
	again.CreatedAt = time.Time{}
	must(t, s.UpdateConnector(ctx, again, nil))
	if got := getConnector(t, s, "deploy"); !got.CreatedAt.Equal(norm(t0)) || got.Revision != 3 {
		t.Errorf("after second update: created %v revision %d, want %v and 3", got.CreatedAt, got.Revision, norm(t0))
	}

	must(t, s.DeleteConnector(ctx, "c-deploy", nil))
	wantCode(t, func() error { _, err := s.GetConnector(ctx, "deploy"); return err }(), credbroker.CodeNotFound)
	wantEqual(t, "list after delete", connectorNames(t, s), []string{"alpha"})
}

func testConnectorRoundTrip(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	// Empty lists, zero times and zero durations come back as they went.
	bare := &credbroker.Connector{ID: "c-bare", Name: "bare", Principal: credbroker.PrincipalSession, Base: credbroker.BaseDefault}
	must(t, s.CreateConnector(ctx, bare, nil))
	wantEqual(t, "bare connector", getConnector(t, s, "c-bare"), stored(bare))

	// Text that needs quoting in SQL or JSON survives.
	odd := sampleConnector("c-'odd\"", `o'dd "name" ; --`)
	odd.Description = "ünïcödé\n\t\\ %_ ?$1"
	odd.AllowPlans = []string{`A"B`, `C\D`, "ü"}
	must(t, s.CreateConnector(ctx, odd, nil))
	wantEqual(t, "odd connector", getConnector(t, s, odd.Name), stored(odd))

	// A name that is another connector's ID finds that connector: IDs win.
	shadow := sampleConnector("c-shadow", "c-bare")
	must(t, s.CreateConnector(ctx, shadow, nil))
	if got := getConnector(t, s, "c-bare"); got.ID != "c-bare" {
		t.Errorf("GetConnector(%q) found %s, want the connector with that ID", "c-bare", got.ID)
	}
}

func testConnectorConflicts(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	must(t, s.CreateConnector(ctx, sampleConnector("c-1", "one"), nil))
	must(t, s.CreateConnector(ctx, sampleConnector("c-2", "two"), nil))

	e := wantCode(t, s.CreateConnector(ctx, sampleConnector("c-3", "one"), nil), credbroker.CodeConflict)
	if !strings.Contains(e.Message, "one") {
		t.Errorf("conflict %q does not name the taken name", e.Message)
	}
	wantCode(t, s.CreateConnector(ctx, sampleConnector("c-1", "three"), nil), credbroker.CodeConflict)

	rename := getConnector(t, s, "two")
	rename.Name = "one"
	wantCode(t, s.UpdateConnector(ctx, rename, nil), credbroker.CodeConflict)

	wantEqual(t, "list after conflicts", connectorNames(t, s), []string{"one", "two"})
	if got := getConnector(t, s, "c-2"); got.Revision != 1 {
		t.Errorf("refused rename moved the revision to %d", got.Revision)
	}

	wantCode(t, s.CreateConnector(ctx, &credbroker.Connector{Name: "no-id"}, nil), credbroker.CodeInvalid)
	wantCode(t, s.CreateConnector(ctx, &credbroker.Connector{ID: "no-name"}, nil), credbroker.CodeInvalid)
}

func testConnectorNotFound(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	_, err := s.GetConnector(ctx, "missing")
	wantCode(t, err, credbroker.CodeNotFound)
	wantCode(t, s.UpdateConnector(ctx, sampleConnector("c-missing", "missing"), nil), credbroker.CodeNotFound)
	wantCode(t, s.DeleteConnector(ctx, "c-missing", nil), credbroker.CodeNotFound)
	cs, err := s.ListConnectors(ctx)
	must(t, err)
	if len(cs) != 0 {
		t.Errorf("empty store lists %d connectors", len(cs))
	}
}

func testConnectorBase(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	must(t, s.CreateConnector(ctx, sampleConnector("c-base", "base"), nil))
	for _, name := range []string{"hop-a", "hop-b"} {
		c := sampleConnector("c-"+name, name)
		c.Base, c.BaseConnector, c.AccessKeyID, c.Secret = credbroker.BaseConnector, "c-base", "", credbroker.Sealed{}
		must(t, s.CreateConnector(ctx, c, nil))
		wantEqual(t, "chained connector", getConnector(t, s, name), stored(c))
	}

	e := wantCode(t, s.DeleteConnector(ctx, "c-base", nil), credbroker.CodeConflict)
	if !strings.Contains(e.Message, "hop-a") || !strings.Contains(e.Message, "hop-b") {
		t.Errorf("conflict %q does not name the connectors that use the base", e.Message)
	}
	getConnector(t, s, "base")

	orphan := sampleConnector("c-orphan", "orphan")
	orphan.Base, orphan.BaseConnector = credbroker.BaseConnector, "c-nowhere"
	wantCode(t, s.CreateConnector(ctx, orphan, nil), credbroker.CodeInvalid)

	// Moving hop-b off the base and deleting hop-a frees it.
	hopB := getConnector(t, s, "hop-b")
	hopB.Base, hopB.BaseConnector = credbroker.BaseDefault, ""
	must(t, s.UpdateConnector(ctx, hopB, nil))
	wantCode(t, s.DeleteConnector(ctx, "c-base", nil), credbroker.CodeConflict)
	must(t, s.DeleteConnector(ctx, "c-hop-a", nil))
	must(t, s.DeleteConnector(ctx, "c-base", nil))
	wantEqual(t, "list after deletes", connectorNames(t, s), []string{"hop-b"})
}

// revisionOf reads a connector's ID and revision or fails t.
func revisionOf(t *testing.T, s credbroker.Store, idOrName string) (string, int64) {
	t.Helper()
	id, rev, err := s.ConnectorRevision(t.Context(), idOrName)
	must(t, err)
	return id, rev
}

func testConnectorRevision(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	_, _, err := s.ConnectorRevision(ctx, "deploy")
	wantCode(t, err, credbroker.CodeNotFound)

	must(t, s.CreateConnector(ctx, sampleConnector("c-deploy", "deploy"), nil))
	for _, ref := range []string{"c-deploy", "deploy"} {
		if id, rev := revisionOf(t, s, ref); id != "c-deploy" || rev != 1 {
			t.Errorf("ConnectorRevision(%q) = %s, %d; want c-deploy, 1", ref, id, rev)
		}
	}

	// Every update moves it, as GetConnector shows.
	for want := int64(2); want <= 3; want++ {
		c := getConnector(t, s, "deploy")
		c.Description = fmt.Sprint("edit ", want)
		must(t, s.UpdateConnector(ctx, c, nil))
		id, rev := revisionOf(t, s, "deploy")
		if got := getConnector(t, s, "deploy"); id != got.ID || rev != got.Revision || rev != want {
			t.Errorf("after update: ConnectorRevision = %s, %d; GetConnector has %s, %d; want revision %d", id, rev, got.ID, got.Revision, want)
		}
	}

	// It finds what GetConnector finds: an ID before a name.
	must(t, s.CreateConnector(ctx, sampleConnector("c-shadow", "c-deploy"), nil))
	if id, _ := revisionOf(t, s, "c-deploy"); id != "c-deploy" {
		t.Errorf("ConnectorRevision(%q) found %s, want the connector with that ID", "c-deploy", id)
	}

	// A renamed connector is not found by its old name; a new one that
	// takes the name is, with its own ID.
	c := getConnector(t, s, "deploy")
	c.Name = "deploy-old"
	must(t, s.UpdateConnector(ctx, c, nil))
	_, _, err = s.ConnectorRevision(ctx, "deploy")
	wantCode(t, err, credbroker.CodeNotFound)
	must(t, s.CreateConnector(ctx, sampleConnector("c-new", "deploy"), nil))
	if id, rev := revisionOf(t, s, "deploy"); id != "c-new" || rev != 1 {
		t.Errorf("ConnectorRevision(%q) = %s, %d after the name moved; want c-new, 1", "deploy", id, rev)
	}

	// A deleted connector is not found; its ID, once free, finds the
	// connector that has it as its name.
	must(t, s.DeleteConnector(ctx, "c-deploy", nil))
	_, _, err = s.ConnectorRevision(ctx, "deploy-old")
	wantCode(t, err, credbroker.CodeNotFound)
	if id, _ := revisionOf(t, s, "c-deploy"); id != "c-shadow" {
		t.Errorf("ConnectorRevision(%q) found %s after the delete, want c-shadow (by name)", "c-deploy", id)
	}
}

func testConnectorGeneration(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	gen := func() int64 {
		t.Helper()
		n, err := s.ConnectorGeneration(ctx)
		must(t, err)
		return n
	}
	last := gen()
	step := func(what string, changes bool) {
		t.Helper()
		now := gen()
		if changes && now == last {
			t.Errorf("%s: the connector generation stayed at %d", what, now)
		}
		if !changes && now != last {
			t.Errorf("%s: the connector generation moved from %d to %d", what, last, now)
		}
		last = now
	}

	must(t, s.CreateConnector(ctx, sampleConnector("c-base", "base"), nil))
	step("create", true)
	hop := sampleConnector("c-hop", "hop")
	hop.Base, hop.BaseConnector, hop.AccessKeyID, hop.Secret = credbroker.BaseConnector, "c-base", "", credbroker.Sealed{}
	must(t, s.CreateConnector(ctx, hop, rec(credbroker.ActionConnectorCreate)))
	step("create with an audit record", true)

	getConnector(t, s, "base")
	revisionOf(t, s, "hop")
	if _, err := s.ListConnectors(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, s.AppendAudit(ctx, rec(credbroker.ActionVend)))
	must(t, s.SetVariable(ctx, &credbroker.Variable{Name: "region", Value: "eu-west-1"}, nil))
	step("reads, an audit append and a variable", false)

	c := getConnector(t, s, "base")
	c.Description = "changed"
	must(t, s.UpdateConnector(ctx, c, nil))
	step("update", true)

	stale := *c
	stale.Revision--
	wantCode(t, s.UpdateConnector(ctx, &stale, nil), credbroker.CodeConflict)
	wantCode(t, s.CreateConnector(ctx, sampleConnector("c-other", "base"), nil), credbroker.CodeConflict)
	wantCode(t, s.DeleteConnector(ctx, "c-base", nil), credbroker.CodeConflict)
	step("refused changes", false)

	must(t, s.DeleteConnector(ctx, "c-hop", nil))
	step("delete", true)
}
