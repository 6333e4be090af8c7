package engine_test

// Findings of the independent review of issue 10 (policy hook, default
// add-on). Each test failed against the code as reviewed and pins its fix:
// a cyclic profile no longer crashes the process, a policy cannot add a
// scoped claim in another letter case nor drop openid, a policy's cause
// cannot match another code, and a default of app or auth0 means the
// id_token.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestReviewFindingPolicyFoldedScopedClaim: the engine refuses an owned
// claim in any case-folded spelling because "a relying party decoding into
// a struct would read them as sub or iss" (claims.IsOwned). The same
// reading turns "EMAIL" into email; yet a Policy may add "EMAIL"/"Email"
// when the email scope was not granted, and it is minted.
func TestReviewFindingPolicyFoldedScopedClaim(t *testing.T) {
	for _, name := range []string{"EMAIL", "Email", "Phone_Number", "ADDRESS"} {
		w, used := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
			g.Claims[name] = "leaked"
			return nil
		}, nil)
		for dialect, req := range bothDialects(t, w, "openid") {
			res, err := w.x.Exchange(context.Background(), req)
			if err == nil {
				t.Errorf("%s: policy added %q (a claim of a scope not granted, case-folded) and the engine minted it", dialect, name)
				continue
			}
			assertRefused(t, res, err, engine.CodeServerError)
		}
		if used.Load() != 0 {
			t.Errorf("%q: consumed", name)
		}
	}
}

// TestReviewFindingPolicyDropsOpenID: openid is required whenever an
// id_token is minted (DESIGN: "openid is required"; token exchange:
// "openid is required only when an id_token is requested"). The engine
// checks it before the Policy, but not after: a Policy that narrows the
// scope to leave openid out (or to nothing) gets an id_token minted whose
// granted scope the engine itself would have refused.
func TestReviewFindingPolicyDropsOpenID(t *testing.T) {
	for _, sc := range [][]string{{"email"}, nil} {
		w, _ := policyWorldCounting(t, func(_ context.Context, g *engine.Grant) error {
			g.Scope = sc
			return nil
		}, nil)
		r := withScope(tx(svcA, w.idToken(t, svcA, nil), engine.TokenTypeIDToken, svcB), "openid email")
		r.RequestedTokenType = engine.TokenTypeIDToken
		res, err := w.x.Exchange(context.Background(), r)
		if err == nil {
			t.Errorf("policy scope %q: id_token minted with granted scope %q (no openid)", sc, res.Scope)
		}
		d := &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: svcB, Scope: "openid email"}
		if res, err := w.x.Exchange(context.Background(), d); err == nil {
			t.Errorf("policy scope %q: delegation id_token minted without openid (%d bytes)", sc, len(res.IDToken))
		}
	}
}

// TestReviewFindingPolicyCauseMatchesOtherCode: mintWith hides a Minter's
// *Error behind opaqueCause so that "a code is matched only at the top of
// the chain". A Policy refusal with a fitting code keeps pe.Err as it is,
// so errors.Is(err, engine.ErrInvalidClient) holds for what is answered as
// invalid_grant (and a host mapping errors with errors.Is answers 401).
func TestReviewFindingPolicyCauseMatchesOtherCode(t *testing.T) {
	w, _ := policyWorldCounting(t, func(ctx context.Context, g *engine.Grant) error {
		// e.g. the policy asked another Exchanger (or its own code) and
		// got an invalid_client, which it wraps as its refusal's cause.
		return &engine.Error{Code: engine.CodeInvalidGrant, Description: "user blocked",
			Err: &engine.Error{Code: engine.CodeInvalidClient}}
	}, nil)
	res, err := w.x.Exchange(context.Background(), delegationReq(t, w))
	assertRefused(t, res, err, engine.CodeInvalidGrant)
	if errors.Is(err, engine.ErrInvalidClient) {
		t.Error("errors.Is(err, ErrInvalidClient) holds for an invalid_grant answer: the policy's cause is not made opaque as a Minter's is")
	}
}

func delegationReq(t *testing.T, w *xworld) *engine.Request {
	return &engine.Request{GrantType: engine.GrantTypeJWTBearer, ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: svcB}
}

// TestReviewFindingDefaultAPITypeBuiltin: the issue says app/auth0 "keep
// meaning the id_token". A client with APITypes {"app": {}} and
// DefaultAPIType "app" passes store.Client.Validate, yet every delegation
// without api_type for it is server_error (minterFor looks "app" up in
// Minters, where New forbids it). Either Validate refuses it or the
// engine answers the id_token.
func TestReviewFindingDefaultAPITypeBuiltin(t *testing.T) {
	w := newXWorld(t, nil)
	for _, name := range []string{"app", "auth0"} {
		c := store.Client{ID: "builtin-default-" + name, SigningAlg: "HS256", AllowedSources: []string{svcA}, Grants: bothGrants,
			Secrets:  []store.Secret{{ID: "s1", Value: randomSecret(t, 32)}},
			APITypes: map[string]json.RawMessage{name: json.RawMessage(`{}`)}, DefaultAPIType: name}
		if err := c.Validate(); err != nil {
			continue // refused at registration: fine
		}
		putClient(t, w.st, c)
		res, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer,
			ClientID: svcA, IDToken: w.idToken(t, svcA, nil), Target: c.ID})
		if err != nil || res.IDToken == "" {
			t.Errorf("DefaultAPIType %q passes Validate but a delegation without api_type gives %v (res %+v); want the id_token", name, err, res)
		}
	}
}

// TestReviewFindingCyclicProfileWithPolicy: jsonenc bounds depth so that
// "a cycle in a profile built in Go is an error, not a stack overflow".
// With a Policy (or a Minter) set, the engine deep-copies the claims first
// (grantCopy → claims.CloneValue, unbounded recursion), and the process
// dies of a fatal stack overflow that recover cannot catch. Run in a child
// process so the failure is reported rather than crashing this binary.
func TestReviewFindingCyclicProfileWithPolicy(t *testing.T) {
	if os.Getenv("DEPUTY_REVIEW_CYCLE_CHILD") == "1" {
		debug.SetMaxStack(32 << 20)
		cyc := map[string]any{}
		cyc["next"] = cyc
		mem := store.NewMemory()
		mem.PutRefreshToken("rt", store.RefreshGrant{ClientID: svcA, Subject: "auth0|ada", Scope: []string{"openid", "address"}})
		w := newXWorld(t, func(c *engine.Config) {
			c.RefreshTokens = mem
			c.Profiles = sharedProfiles{"auth0|ada": claims.Set{"address": cyc}}
			c.Policy = func(context.Context, *engine.Grant) error { return nil }
		})
		res, err := w.x.Exchange(context.Background(), &engine.Request{GrantType: engine.GrantTypeJWTBearer,
			ClientID: svcA, RefreshToken: "rt", Target: svcB, Scope: "openid address"})
		assertRefused(t, res, err, engine.CodeServerError)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReviewFindingCyclicProfileWithPolicy$", "-test.v")
	cmd.Env = append(os.Environ(), "DEPUTY_REVIEW_CYCLE_CHILD=1")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
	}
	if err != nil {
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "fatal error") || strings.Contains(l, "deputy/claims.") && len(lines) < 3 {
				lines = append(lines, l)
			}
		}
		text := strings.Join(lines, "\n")
		t.Errorf("a cyclic profile with a Policy set crashed the process (%v):\n%s", err, text)
	}
}
