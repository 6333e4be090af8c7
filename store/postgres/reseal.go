package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Reseal re-encrypts every client secret and private key not sealed under
// Config.ActiveKey with it, in one transaction, and reports how many rows
// it moved. Rotating the encryption key: give every replica the new key in
// EncryptionKeys, then make it ActiveKey everywhere, call Reseal once, and
// only then drop the old key from the Configs. Values do not change, so
// caches stay valid.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		type row struct {
			owner, id, keyID string
			sealed           []byte
		}
		collect := func(sql string) ([]row, error) {
			rows, err := tx.Query(ctx, sql, s.cfg.ActiveKey)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				err := r.Scan(&x.owner, &x.id, &x.keyID, &x.sealed)
				return x, err
			})
		}
		secrets, err := collect(`SELECT client_id, id, key_id, sealed FROM deputy_client_secrets
			WHERE key_id <> $1 FOR UPDATE`)
		if err != nil {
			return err
		}
		for _, r := range secrets {
			plain, err := s.sealer.open(r.keyID, r.sealed, kindSecret, r.owner, r.id)
			if err != nil {
				return err
			}
			keyID, sealed := s.sealer.seal(plain, kindSecret, r.owner, r.id)
			clear(plain)
			if _, err := tx.Exec(ctx, "UPDATE deputy_client_secrets SET key_id = $3, sealed = $4 WHERE client_id = $1 AND id = $2",
				r.owner, r.id, keyID, sealed); err != nil {
				return err
			}
			n++
		}
		keys, err := collect(`SELECT '', kid, key_id, sealed FROM deputy_keys
			WHERE key_id IS NOT NULL AND key_id <> $1 FOR UPDATE`)
		if err != nil {
			return err
		}
		for _, r := range keys {
			plain, err := s.sealer.open(r.keyID, r.sealed, kindKey, r.id)
			if err != nil {
				return err
			}
			keyID, sealed := s.sealer.seal(plain, kindKey, r.id)
			clear(plain)
			if _, err := tx.Exec(ctx, "UPDATE deputy_keys SET key_id = $2, sealed = $3 WHERE kid = $1", r.id, keyID, sealed); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if errors.Is(err, ErrSealing) {
		return 0, err
	}
	if err != nil {
		return 0, s.fail(ctx, "resealing", err)
	}
	return n, nil
}
