package broker

import (
	"context"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/vars"
)

const maxVariableValue = 64 << 10

// SetVariable stores a global (Plan "") or plan variable; a secret one is
// sealed first.
func (s *Service) SetVariable(ctx context.Context, tok *credbroker.Token, v credbroker.Variable) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	if err := vars.CheckName("name", v.Name); err != nil {
		return err
	}
	v.Name = vars.Canonical(v.Name)
	if v.Plan != "" && !validPlanKey(v.Plan) {
		return credbroker.Errorf(credbroker.CodeInvalid, "plan", "invalid plan key %q", v.Plan).
			WithFix("use a plan key PROJECT-PLAN, or none for a global variable")
	}
	if len(v.Value) > maxVariableValue || !utf8.ValidString(v.Value) {
		return credbroker.Errorf(credbroker.CodeInvalid, "value", "must be UTF-8 text of at most %d bytes", maxVariableValue)
	}
	v.Secret = v.Secret || vars.IsSecretName(v.Name)
	v.UpdatedAt = s.now().UTC()
	if v.Secret {
		sealed, err := s.opts.Keys.Seal(v.Ref(), []byte(v.Value))
		if err != nil {
			return err
		}
		v.Sealed, v.Value = sealed, ""
	}
	scope := v.Plan
	if scope == "" {
		scope = "global"
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionVariableSet, "variable "+v.Name+" ("+scope+")")
	rec.Plan = v.Plan
	return s.opts.Store.SetVariable(ctx, &v, rec)
}

// DeleteVariable removes a variable.
func (s *Service) DeleteVariable(ctx context.Context, tok *credbroker.Token, plan, name string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	name = vars.Canonical(name)
	rec := s.adminRecord(tok.ID, credbroker.ActionVariableDelete, "variable "+name)
	rec.Plan = plan
	return s.opts.Store.DeleteVariable(ctx, plan, name, rec)
}

// ListVariables is the administrator's view: secret values are blank.
func (s *Service) ListVariables(ctx context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	var vs []*credbroker.Variable
	var err error
	if plan == "" {
		vs, err = s.opts.Store.ListVariables(ctx)
	} else {
		vs, err = s.opts.Store.ListVariables(ctx, "", plan)
	}
	if err != nil {
		return nil, err
	}
	out := make([]credbroker.Variable, 0, len(vs))
	for _, v := range vs {
		c := *v
		c.Sealed = credbroker.Sealed{}
		if c.Secret {
			c.Value = ""
		}
		out = append(out, c)
	}
	return out, nil
}

// AgentVariables returns the global and plan variables an agent may
// substitute, secret ones opened.
func (s *Service) AgentVariables(ctx context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) {
	// A pattern is not a plan: "OPS-*" would match the token's own
	// pattern and answer the globals.
	if err := checkPlan("plan", plan); err != nil {
		return nil, err
	}
	if err := requireAgentFor(tok, plan); err != nil {
		return nil, err
	}
	plans := []string{""}
	if plan != "" {
		plans = append(plans, plan)
	}
	vs, err := s.opts.Store.ListVariables(ctx, plans...)
	if err != nil {
		return nil, err
	}
	out := make([]credbroker.Variable, 0, len(vs))
	for _, v := range vs {
		c := *v
		if c.Secret {
			plain, err := s.openSecret(c.Ref(), c.Sealed)
			if err != nil {
				s.log.Error("cannot open a secret variable", "variable", c.Name, "plan", c.Plan, "err", err)
				return nil, credbroker.Errorf(credbroker.CodeUnavailable, "variables", "the stored value of variable %s cannot be opened", c.Name).
					WithFix("an administrator should check the broker log and its master key")
			}
			c.Value = string(plain)
		}
		c.Sealed = credbroker.Sealed{}
		out = append(out, c)
	}
	return out, nil
}
