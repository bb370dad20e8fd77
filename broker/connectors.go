package broker

import (
	"context"

	"github.com/credbroker/credbroker"
)

// seal seals the connector's secret, if it has one in the clear.
func (s *Service) sealConnector(c *credbroker.Connector) error {
	if c.SecretAccessKey == "" {
		return nil
	}
	sealed, err := s.opts.Keys.Seal(credbroker.SecretRef{Kind: "connector", ID: c.ID}, []byte(c.SecretAccessKey))
	if err != nil {
		return err
	}
	c.Secret = sealed
	return nil
}

func (s *Service) info(c *credbroker.Connector) credbroker.ConnectorInfo {
	part, _ := s.opts.Partition(c.Region)
	in := c.Info(part)
	if c.BaseConnector != "" {
		if e := s.cachedConnector(c.BaseConnector); e != nil {
			in.BaseConnector = e.c.Name
		}
	}
	return in
}

// CreateConnector validates spec, seals its secret and stores it.
func (s *Service) CreateConnector(ctx context.Context, tok *credbroker.Token, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	c, err := s.connectorFromSpec(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	if c.ID, err = newID("con_"); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt, c.Revision = now, now, 1
	if err := s.sealConnector(c); err != nil {
		return nil, err
	}
	stored := *c
	stored.SecretAccessKey = ""
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorCreate, "connector "+c.ID)
	rec.Connector, rec.RoleARN = c.Name, c.RoleARN
	if err := s.opts.Store.CreateConnector(ctx, &stored, rec); err != nil {
		return nil, err
	}
	in := s.info(&stored)
	return &in, nil
}

// UpdateConnector replaces a connector's settings; spec.Revision must be
// the revision the caller read.
func (s *Service) UpdateConnector(ctx context.Context, tok *credbroker.Token, ref string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	prev, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return nil, err
	}
	if spec.Revision != 0 && spec.Revision != prev.Revision {
		return nil, credbroker.Errorf(credbroker.CodeConflict, "revision",
			"connector %s is at revision %d, not %d: someone changed it since you read it", prev.Name, prev.Revision, spec.Revision).
			WithFix("read it again and reapply your change")
	}
	if spec.Revision == 0 {
		spec.Revision = prev.Revision
	}
	c, err := s.connectorFromSpec(ctx, spec, prev)
	if err != nil {
		return nil, err
	}
	c.ID, c.CreatedAt, c.UpdatedAt, c.Revision = prev.ID, prev.CreatedAt, s.now().UTC(), spec.Revision
	if err := s.sealConnector(c); err != nil {
		return nil, err
	}
	stored := *c
	stored.SecretAccessKey = ""
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorUpdate, "connector "+c.ID)
	rec.Connector, rec.RoleARN = c.Name, c.RoleARN
	if err := s.opts.Store.UpdateConnector(ctx, &stored, rec); err != nil {
		return nil, err
	}
	s.forgetConnector(prev)
	in := s.info(&stored)
	return &in, nil
}

// GetConnector shows a connector; never its secret.
func (s *Service) GetConnector(ctx context.Context, tok *credbroker.Token, ref string) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return nil, err
	}
	in := s.info(c)
	return &in, nil
}

// ListConnectors lists connectors, ordered by name.
func (s *Service) ListConnectors(ctx context.Context, tok *credbroker.Token) ([]credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	cs, err := s.opts.Store.ListConnectors(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]string{}
	for _, c := range cs {
		byID[c.ID] = c.Name
	}
	out := make([]credbroker.ConnectorInfo, 0, len(cs))
	for _, c := range cs {
		part, _ := s.opts.Partition(c.Region)
		in := c.Info(part)
		if n, ok := byID[c.BaseConnector]; ok {
			in.BaseConnector = n
		}
		out = append(out, in)
	}
	return out, nil
}

// DeleteConnector removes a connector.
func (s *Service) DeleteConnector(ctx context.Context, tok *credbroker.Token, ref string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return err
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorDelete, "connector "+c.ID)
	rec.Connector = c.Name
	if err := s.opts.Store.DeleteConnector(ctx, c.ID, rec); err != nil {
		return err
	}
	s.forgetConnector(c)
	return nil
}
