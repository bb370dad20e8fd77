package broker

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/credbroker/credbroker"
)

// CheckKey proves at start that keys open the store's secrets: it opens
// the key check written at the first start, or writes one when the store
// has none. A wrong key is CodeUnavailable and changes nothing.
func CheckKey(ctx context.Context, st credbroker.SecretStore, keys Sealer, keyName string) error {
	kc, err := st.KeyCheck(ctx)
	switch {
	case err == nil:
		if _, err := keys.Open(credbroker.KeyCheckRef, kc); err != nil {
			return credbroker.Errorf(credbroker.CodeUnavailable, "master key",
				"the master key from %s does not open this store's secrets (it was sealed under another key)", keyName).
				WithFix("point the broker at the key file this store was created with (--key-file or CREDBROKER_MASTER_KEY); nothing was changed")
		}
		return nil
	case credbroker.ErrorCode(err) == credbroker.CodeNotFound:
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		s, err := keys.Seal(credbroker.KeyCheckRef, buf)
		if err != nil {
			return err
		}
		if err := st.InitKeyCheck(ctx, s); err != nil && credbroker.ErrorCode(err) != credbroker.CodeConflict {
			return err
		}
		// Another broker may have won the race: check what is stored.
		return CheckKey(ctx, st, keys, keyName)
	default:
		return err
	}
}

// openSecret opens a sealed secret of the store; when it does not open,
// the key file is read again once (a rotation by another process may have
// added the version it is sealed under) and it is tried again.
func (s *Service) openSecret(ref credbroker.SecretRef, sealed credbroker.Sealed) ([]byte, error) {
	plain, err := s.opts.Keys.Open(ref, sealed)
	if err != nil {
		if rl, ok := s.opts.Keys.(Reloader); ok && rl.Reload() == nil {
			plain, err = s.opts.Keys.Open(ref, sealed)
		}
	}
	return plain, err
}

// Rewrapper re-wraps a sealed secret under the active key (seal.Ring).
type Rewrapper interface {
	Rewrap(ref credbroker.SecretRef, s credbroker.Sealed) (credbroker.Sealed, error)
	ActiveVersion() int
}

// Rewrap re-wraps every secret of the store that is sealed under an older
// key version than keys' active one, and appends an audit record. Brokers
// keep serving meanwhile: each record is re-wrapped in its own short
// transaction.
func Rewrap(ctx context.Context, st credbroker.Store, keys Rewrapper, actor string, now func() credbroker.AuditRecord) (int, error) {
	active := keys.ActiveVersion()
	n, err := st.RewrapSecrets(ctx, active, keys.Rewrap)
	if err != nil {
		return n, err
	}
	rec := now()
	rec.Action, rec.TokenID, rec.Outcome = credbroker.ActionKeyRotate, actor, credbroker.OutcomeGranted
	rec.Detail = fmt.Sprintf("re-wrapped %d secrets under key version %d", n, active)
	if err := st.AppendAudit(ctx, &rec); err != nil {
		return n, err
	}
	return n, nil
}
