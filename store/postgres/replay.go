package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxReplayID is the longest id kept as given; longer ids are kept as
// replayLongPrefix and their SHA-256, replayLongPrefix+32 bytes, a length no
// id is kept as, so the two forms never collide.
const maxReplayID = 256

var replayLongPrefix = make([]byte, maxReplayID)

func replayKey(id string) []byte {
	if len(id) <= maxReplayID {
		return []byte(id)
	}
	sum := sha256.Sum256([]byte(id))
	return append(append(make([]byte, 0, maxReplayID+len(sum)), replayLongPrefix...), sum[:]...)
}

// Use implements store.ReplayCache with one statement: it inserts id with
// its expiry, or takes over an expired record of it, and reports first only
// if it did. Of concurrent calls with one id, on any number of connections
// and Stores, PostgreSQL lets exactly one insert or take over the row; the
// others wait for it and then see an unexpired record. Times are on
// Config.Now; replicas' clocks should agree to well within the TTLs used.
func (s *Store) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	now := s.cfg.Now()
	// The database keeps microseconds and pgx truncates: round the expiry
	// up, so the id is kept for at least ttl. ($3, truncated, only errs
	// towards "not yet expired".)
	exp := now.Add(max(ttl, 0))
	if up := exp.Truncate(time.Microsecond); up.Before(exp) {
		exp = up.Add(time.Microsecond)
	}
	qctx, cancel := s.lookupCtx(ctx)
	defer cancel()
	var first bool
	err := s.pool.QueryRow(qctx, `
		INSERT INTO deputy_replay AS r (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE r.expires_at <= $3
		RETURNING true`, replayKey(id), exp, now).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // an unexpired record exists
	}
	if err != nil {
		return false, s.fail(qctx, "using replay id", err)
	}
	return first, nil
}

// prune deletes expired replay ids every PruneInterval until ctx is done,
// in batches of PruneBatch rows. It skips rows another transaction holds
// (SKIP LOCKED), so it never makes Use wait for long, and several replicas
// pruning at once share the work instead of queueing.
func (s *Store) prune(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.PruneReplay(ctx)
	}
}

// PruneReplay deletes the replay ids expired by Config.Now, in batches of
// PruneBatch, and reports how many it deleted. Open starts a goroutine that
// calls it every PruneInterval; call it yourself when that is disabled.
func (s *Store) PruneReplay(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		tag, err := s.pool.Exec(ctx, `
			DELETE FROM deputy_replay WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM deputy_replay WHERE expires_at <= $1
				LIMIT $2 FOR UPDATE SKIP LOCKED))
			AND expires_at <= $1`, s.cfg.Now(), s.cfg.PruneBatch)
		if err != nil {
			return total, s.fail(ctx, "pruning replay ids", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < s.cfg.PruneBatch {
			break
		}
	}
	return total, ctxErr(ctx)
}
