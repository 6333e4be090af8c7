package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

var errBroken = errors.New("store is broken")

// fault decides what a wrapped store call does: nothing, fail, panic, or
// wait for the context.
type fault struct {
	err    error
	panic  bool
	block  bool
	onCall int // 0: every call; n: only the n-th call
	calls  atomic.Int32
}

func (f *fault) hit(ctx context.Context) error {
	n := int(f.calls.Add(1))
	if f.onCall != 0 && n != f.onCall {
		return nil
	}
	switch {
	case f.panic:
		panic("store exploded")
	case f.block:
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

type faultyClients struct {
	store.ClientStore
	f *fault
}

func (s faultyClients) Client(ctx context.Context, id string) (*store.Client, error) {
	if err := s.f.hit(ctx); err != nil {
		return nil, err
	}
	return s.ClientStore.Client(ctx, id)
}

type faultyKeys struct {
	store.KeyStore
	f *fault
}

func (s faultyKeys) SigningKey(ctx context.Context, alg string) (*jose.JSONWebKey, error) {
	if err := s.f.hit(ctx); err != nil {
		return nil, err
	}
	return s.KeyStore.SigningKey(ctx, alg)
}

func (s faultyKeys) VerificationKeys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if err := s.f.hit(ctx); err != nil {
		return nil, err
	}
	return s.KeyStore.VerificationKeys(ctx, kid)
}

type faultyReplay struct {
	store.ReplayCache
	f *fault
}

func (s faultyReplay) Use(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if err := s.f.hit(ctx); err != nil {
		return false, err
	}
	return s.ReplayCache.Use(ctx, id, ttl)
}

type faultyProfiles struct {
	store.ProfileStore
	f *fault
}

func (s faultyProfiles) Profile(ctx context.Context, sub string) (claims.Set, error) {
	if err := s.f.hit(ctx); err != nil {
		return nil, err
	}
	return s.ProfileStore.Profile(ctx, sub)
}

type faultyRefresh struct {
	store.RefreshTokenStore
	f *fault
}

func (s faultyRefresh) RefreshToken(ctx context.Context, h [32]byte) (*store.RefreshGrant, error) {
	if err := s.f.hit(ctx); err != nil {
		return nil, err
	}
	return s.RefreshTokenStore.RefreshToken(ctx, h)
}

// TestExchangeStoreFaults: any store error, panic or timeout is
// server_error, and no token comes back.
func TestExchangeStoreFaults(t *testing.T) {
	type wrap func(c *engine.Config, f *fault)
	stores := map[string]wrap{
		"clients (requester)": func(c *engine.Config, f *fault) { f.onCall = 1; c.Clients = faultyClients{c.Clients, f} },
		"clients (target)":    func(c *engine.Config, f *fault) { f.onCall = 2; c.Clients = faultyClients{c.Clients, f} },
		"keys (verify)":       func(c *engine.Config, f *fault) { f.onCall = 1; c.Keys = faultyKeys{c.Keys, f} },
		"keys (sign)":         func(c *engine.Config, f *fault) { f.onCall = 2; c.Keys = faultyKeys{c.Keys, f} },
		"replay":              func(c *engine.Config, f *fault) { c.Replay = faultyReplay{store.NewMemory(), f} },
		"refresh tokens":      func(c *engine.Config, f *fault) { c.RefreshTokens = faultyRefresh{c.RefreshTokens, f} },
		"profiles":            func(c *engine.Config, f *fault) { c.Profiles = faultyProfiles{c.Profiles, f} },
	}
	kinds := map[string]func() *fault{
		"error":   func() *fault { return &fault{err: errBroken} },
		"panic":   func() *fault { return &fault{panic: true} },
		"timeout": func() *fault { return &fault{block: true} },
	}
	for sname, wrapStore := range stores {
		for kname, newFault := range kinds {
			t.Run(sname+"/"+kname, func(t *testing.T) {
				f := newFault()
				st := store.NewMemory()
				w := newWorldOn(t, st, func(c *engine.Config) {
					c.RefreshTokens, c.Profiles = st, st
					wrapStore(c, f)
				})
				st.PutProfile("auth0|ada", userClaims())
				st.PutRefreshToken("rt", store.RefreshGrant{ClientID: appRS, Subject: "auth0|ada", Scope: []string{"openid"}})
				req := delegation(appRS, w.idToken(t, appRS, nil), apiEd, "")
				if sname == "refresh tokens" || sname == "profiles" {
					req = refreshReq(appRS, "rt", apiEd, "")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				res, err := w.x.Exchange(ctx, req)
				assertRefused(t, res, err, engine.CodeServerError, req.IDToken)
				if f.calls.Load() == 0 {
					t.Fatal("the faulty store was never called")
				}
				if kname == "error" && !errors.Is(err, errBroken) {
					t.Errorf("error %v does not wrap the store's cause", err)
				}
				if kname == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
				}
			})
		}
	}
}

func TestExchangeCancelledContext(t *testing.T) {
	w := newWorld(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := delegation(appHS, w.idToken(t, appHS, nil), apiHS, "")
	res, err := w.x.Exchange(ctx, req)
	assertRefused(t, res, err, engine.CodeServerError, req.IDToken)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// TestExchangeCancelledDuringMint: a context cancelled while the minter
// runs yields no token even when the minter succeeds.
func TestExchangeCancelledDuringMint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWorld(t, func(c *engine.Config) {
		c.Minters = map[string]engine.Minter{"custom": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			cancel()
			return &engine.Response{TokenType: "Bearer", ExpiresIn: 60, IDToken: "minted"}, nil
		})}
	})
	putClient(t, w.st, store.Client{ID: "custom-api", SigningAlg: "EdDSA", AllowedSources: []string{appHS}, APITypes: map[string]json.RawMessage{"custom": nil}})
	req := delegation(appHS, w.idToken(t, appHS, nil), "custom-api", "")
	req.APIType = "custom"
	res, err := w.x.Exchange(ctx, req)
	assertRefused(t, res, err, engine.CodeServerError)
}

func TestExchangeReplay(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	tok := w.idToken(t, appHS, nil)

	// A refused request must not burn the token.
	res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, lonely, ""))
	assertRefused(t, res, err, engine.CodeInvalidTarget)
	res, err = w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, "openid admin"))
	assertRefused(t, res, err, engine.CodeInvalidScope)

	if _, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, "")); err != nil {
		t.Fatalf("first use: %v", err)
	}
	res, err = w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant, tok)

	noJTI := w.idToken(t, appHS, func(c claims.Set) { delete(c, "jti") })
	res, err = w.x.Exchange(context.Background(), delegation(appHS, noJTI, apiHS, ""))
	assertRefused(t, res, err, engine.CodeInvalidGrant, noJTI)
}

// TestExchangeReplayConcurrent: 100 concurrent uses of one token give
// exactly one token.
func TestExchangeReplayConcurrent(t *testing.T) {
	w := newWorld(t, func(c *engine.Config) { c.Replay = store.NewMemory() })
	tok := w.idToken(t, appHS, nil)
	var wins, refusals atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, ""))
			switch {
			case err == nil && res != nil:
				wins.Add(1)
			case errors.Is(err, engine.ErrInvalidGrant) && res == nil:
				refusals.Add(1)
			default:
				t.Errorf("unexpected outcome %v %v", res, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || refusals.Load() != 99 {
		t.Errorf("wins = %d, refusals = %d; want 1 and 99", wins.Load(), refusals.Load())
	}
}

func TestExchangeMinters(t *testing.T) {
	var got *engine.Grant
	minters := map[string]engine.Minter{
		"firebase": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			got = g
			g.Claims["admin"] = true // must not leak into anything the engine keeps
			g.Scope[0] = "admin"
			return &engine.Response{TokenType: "Bearer", ExpiresIn: int64(g.Lifetime / time.Second), IDToken: "custom-token", Scope: "admin", Extra: map[string]any{"firebase": true}}, nil
		}),
		"greedy": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			return &engine.Response{TokenType: "Bearer", ExpiresIn: int64(g.Lifetime/time.Second) + 1, IDToken: "x"}, nil
		}),
		"failing": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			return nil, errBroken
		}),
		"panicking": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			panic("boom")
		}),
		"silent": engine.MinterFunc(func(ctx context.Context, g *engine.Grant) (*engine.Response, error) {
			return nil, nil
		}),
	}
	w := newWorld(t, func(c *engine.Config) { c.Minters = minters })
	all := map[string]json.RawMessage{"firebase": []byte(`{"project":"p1"}`), "greedy": nil, "failing": nil, "panicking": nil, "silent": nil}
	putClient(t, w.st, store.Client{ID: "fb", SigningAlg: "ES256", AllowedSources: []string{appHS}, APITypes: all})
	req := func(apiType, target string) *engine.Request {
		r := delegation(appHS, w.idToken(t, appHS, nil), target, "openid email")
		r.APIType = apiType
		return r
	}

	res, err := w.x.Exchange(context.Background(), req("firebase", "fb"))
	if err != nil {
		t.Fatal(err)
	}
	if res.IDToken != "custom-token" || res.Scope != "" || res.Extra["firebase"] != true {
		t.Errorf("response = %+v", res)
	}
	if string(got.Settings) != `{"project":"p1"}` || got.Subject != "auth0|ada" || got.Target.ID != "fb" || got.Requester.ID != appHS {
		t.Errorf("grant = %+v", got)
	}
	if _, ok := got.Claims["email"]; !ok {
		t.Errorf("grant claims = %v, want the email scope's claims", got.Claims)
	}

	for apiType, code := range map[string]string{
		"greedy": engine.CodeServerError, "failing": engine.CodeServerError,
		"panicking": engine.CodeServerError, "silent": engine.CodeServerError,
	} {
		t.Run(apiType, func(t *testing.T) {
			res, err := w.x.Exchange(context.Background(), req(apiType, "fb"))
			assertRefused(t, res, err, code)
		})
	}
	t.Run("not enabled on the target", func(t *testing.T) {
		res, err := w.x.Exchange(context.Background(), req("firebase", apiHS))
		assertRefused(t, res, err, engine.CodeInvalidRequest)
	})
	for _, builtIn := range []string{"", "app", "auth0"} {
		res, err := w.x.Exchange(context.Background(), req(builtIn, apiHS))
		if err != nil {
			t.Fatalf("api_type %q: %v", builtIn, err)
		}
		w.checkMinted(t, res, apiHS)
	}
}

func TestExchangeEvents(t *testing.T) {
	var events []engine.Event
	w := newWorld(t, func(c *engine.Config) {
		c.OnExchange = func(_ context.Context, e engine.Event) { events = append(events, e) }
	})
	tok := w.idToken(t, appHS, nil)
	res, err := w.x.Exchange(context.Background(), delegation(appHS, tok, apiHS, "email openid"))
	if err != nil {
		t.Fatal(err)
	}
	_, c := w.decode(t, res.IDToken, apiHS)
	if _, err := w.x.Exchange(context.Background(), delegation(appHS, tok, lonely, "")); err == nil {
		t.Fatal("want a refusal")
	}
	if len(events) != 2 {
		t.Fatalf("got %d events, want 2", len(events))
	}
	ok, refused := events[0], events[1]
	if ok.Outcome != "ok" || ok.Err != nil || ok.Requester != appHS || ok.Target != apiHS || ok.Subject != "auth0|ada" ||
		ok.Scope != "openid email" || ok.JTI != c["jti"] || ok.SourceHash != sha256Of(tok) || ok.GrantType != engine.GrantTypeJWTBearer {
		t.Errorf("success event = %+v", ok)
	}
	if refused.Outcome != engine.CodeInvalidTarget || refused.JTI != "" || !errors.Is(refused.Err, engine.ErrInvalidTarget) {
		t.Errorf("refusal event = %+v", refused)
	}
}
