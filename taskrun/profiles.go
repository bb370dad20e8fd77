package taskrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/endpoint"
	"github.com/credbroker/credbroker/mask"
)

// Profile is one of a task's named credentials.
type Profile struct {
	Name  string
	Creds *credbroker.Resolved
}

// ProfileTask names the task of one of its profiles, as the broker's
// audit and the logs show it: "copy[writer]", or "[writer]" for a command
// without a task name.
func ProfileTask(task, profile string) string { return task + "[" + profile + "]" }

// deliverProfiles starts the profile channel of c's profiles in a run
// directory of their own (newRunDir), each masked
// as it is handed out and each new set logged, fetches every profile once
// (so that a failure stops the task before it starts), and returns the
// environment entries that point the task at the channel's config file
// and the function that closes it.
func (r *Runner) deliverProfiles(ctx context.Context, c *Command, masks []*mask.Writer) ([]string, func(), error) {
	if c.Creds != nil {
		return nil, nil, errors.New("taskrun: a command has credentials or profiles, not both")
	}
	if len(r.CredentialProcess) == 0 {
		return nil, nil, errors.New("taskrun: no credential_process command for the task's profiles")
	}
	log := r.logger()
	dir, err := newRunDir(r.Environ, "profiles")
	if err != nil {
		return nil, nil, err
	}
	profiles := make([]endpoint.ChannelProfile, len(c.Profiles))
	for i, p := range c.Profiles {
		name := p.Name
		profiles[i] = endpoint.ChannelProfile{Name: name, Region: p.Creds.Region, Provider: &maskedProvider{
			p: p.Creds.Provider, masks: masks, extra: p.Creds.Secrets,
			onNew: func(cr credbroker.Credentials) {
				if c.Name == "" {
					log.Info("profile credentials", "profile", name, "credentials", cr)
					return
				}
				log.Info("profile credentials", "task", c.Name, "profile", name, "credentials", cr)
			},
		}}
	}
	ch, err := endpoint.StartChannel(endpoint.ChannelOptions{
		Profiles: profiles, Default: c.DefaultProfile, Command: r.CredentialProcess, Dir: dir, Logger: log,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	closeChannel := func() {
		ch.Close()
		os.RemoveAll(dir)
	}
	for _, p := range profiles {
		if _, err := p.Provider.Retrieve(ctx); err != nil {
			closeChannel()
			return nil, nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
	}
	for _, m := range masks {
		m.AddSecret(ch.Token())
	}
	return ch.Env(), closeChannel, nil
}

// withoutRegion drops AWS_REGION and AWS_DEFAULT_REGION from env: they
// would override the region of every profile.
func withoutRegion(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_REGION=") && !strings.HasPrefix(kv, "AWS_DEFAULT_REGION=") {
			out = append(out, kv)
		}
	}
	return out
}
