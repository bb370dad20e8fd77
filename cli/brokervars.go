package cli

import (
	"context"

	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
)

// brokerVariables fetches the global and plan variables a broker keeps for
// plan, when a broker and an agent token are configured in the
// environment (CREDBROKER_BROKER with CREDBROKER_TOKEN or
// CREDBROKER_TOKEN_FILE). Without them it returns nothing: the broker is
// optional for jobs that use no connector.
func (a *app) brokerVariables(ctx context.Context, plan string) (global, planVars []vars.Var, secrets []string, err error) {
	url := a.env("CREDBROKER_BROKER")
	if url == "" {
		return nil, nil, nil, nil
	}
	token := a.env("CREDBROKER_TOKEN")
	if f := a.env("CREDBROKER_TOKEN_FILE"); f != "" && token == "" {
		t, err := taskrun.ReadTokenFile("CREDBROKER_TOKEN_FILE", f)
		if err != nil {
			return nil, nil, nil, err
		}
		token = t
	}
	if token == "" {
		return nil, nil, nil, nil
	}
	c, err := a.brokerClient(url, token, a.env("CREDBROKER_CA_FILE"))
	if err != nil {
		return nil, nil, nil, err
	}
	vs, err := c.AgentVariables(ctx, plan)
	if err != nil {
		return nil, nil, nil, err
	}
	secrets = append(secrets, token)
	for _, v := range vs {
		vv := vars.Var{Name: v.Name, Value: v.Value, Secret: v.Secret}
		if v.Plan == "" {
			global = append(global, vv)
		} else {
			planVars = append(planVars, vv)
		}
	}
	return global, planVars, secrets, nil
}
