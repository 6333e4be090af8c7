package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/deputyauth/deputy/claims"
	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/scope"
	"github.com/deputyauth/deputy/store"
)

// benchPairs are the source → target algorithm pairs the performance budget
// names, as clients of the standard test world.
var benchPairs = []struct{ name, source, target string }{
	{"HS256-HS256", appHS, apiHS},
	{"RS256-HS256", appRS, apiHS},
	{"RS256-EdDSA", appRS, apiEd},
	{"EdDSA-EdDSA", appEd, apiEd},
	{"ES256-ES256", appES, appES},
	{"HS256-RS256", appHS, apiRS},
}

const benchScope = "openid profile email"

// BenchmarkExchange measures a whole delegation: requester and target
// lookups, source verification, claim checks, scope, filtering, minting.
func BenchmarkExchange(b *testing.B) {
	w := newWorld(b, nil)
	for _, p := range benchPairs {
		b.Run(p.name, func(b *testing.B) {
			req := delegation(p.source, w.idToken(b, p.source, nil), p.target, benchScope)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.x.Exchange(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// floor is the least any exchange must do, done directly with go-jose:
// parse and verify the source token, decode its claims to a map, copy the
// profile and email claims with the registered ones, and sign the result
// with a prepared signer.
type floor struct {
	token     string
	algs      []jose.SignatureAlgorithm
	verifyKey any
	signer    jose.Signer
	copyNames []string
}

func newFloor(b *testing.B, w *world, source, target string) *floor {
	b.Helper()
	src, _ := w.st.Client(context.Background(), source)
	f := &floor{
		token: w.idToken(b, source, nil),
		algs:  []jose.SignatureAlgorithm{jose.SignatureAlgorithm(src.SigningAlg)},
	}
	if store.IsHMAC(src.SigningAlg) {
		f.verifyKey = src.Secrets[0].Value
	} else {
		k, _ := w.st.SigningKey(context.Background(), src.SigningAlg)
		f.verifyKey = k.Public().Key
	}
	sk := w.signingKeyFor(b, target)
	s, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	f.signer = s
	f.copyNames = append(append([]string{}, scope.Standard["profile"]...), scope.Standard["email"]...)
	return f
}

func (f *floor) run() error {
	jws, err := jose.ParseSignedCompact(f.token, f.algs)
	if err != nil {
		return err
	}
	payload, err := jws.Verify(f.verifyKey)
	if err != nil {
		return err
	}
	var in map[string]any
	if err := josejson.Unmarshal(payload, &in); err != nil {
		return err
	}
	out := make(map[string]any, 16)
	for _, n := range []string{"iss", "sub"} {
		out[n] = in[n]
	}
	out["aud"], out["azp"] = "target", "source"
	now := time.Now().Unix()
	out["iat"], out["exp"], out["jti"] = now, now+36000, "AAAAAAAAAAAAAAAAAAAAAA"
	for _, n := range f.copyNames {
		if v, ok := in[n]; ok {
			out[n] = v
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	sig, err := f.signer.Sign(body)
	if err != nil {
		return err
	}
	_, err = sig.CompactSerialize()
	return err
}

// BenchmarkFloor is the floor of each pair of BenchmarkExchange.
func BenchmarkFloor(b *testing.B) {
	w := newWorld(b, nil)
	for _, p := range benchPairs {
		b.Run(p.name, func(b *testing.B) {
			f := newFloor(b, w, p.source, p.target)
			b.ReportAllocs()
			for b.Loop() {
				if err := f.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExchangeParallel and BenchmarkFloorParallel measure scaling
// across GOMAXPROCS; compare each with its serial benchmark.
func BenchmarkExchangeParallel(b *testing.B) {
	w := newWorld(b, nil)
	for _, p := range benchPairs {
		b.Run(p.name, func(b *testing.B) {
			req := delegation(p.source, w.idToken(b, p.source, nil), p.target, benchScope)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := w.x.Exchange(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkFloorParallel(b *testing.B) {
	w := newWorld(b, nil)
	for _, p := range benchPairs {
		b.Run(p.name, func(b *testing.B) {
			f := newFloor(b, w, p.source, p.target)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := f.run(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkExchangeClients shows that the cost does not grow with the
// number of registered clients.
func BenchmarkExchangeClients(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := newWorld(b, nil)
			for i := range n {
				putClient(b, w.st, store.Client{ID: fmt.Sprintf("client-%d", i), SigningAlg: "HS256", AllowedSources: []string{appHS}})
			}
			req := delegation(appHS, w.idToken(b, appHS, nil), apiHS, benchScope)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.x.Exchange(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFloorClients is the floor with the same registered clients
// resident: what a larger live heap costs any Go program, through the
// garbage collector, whatever it does with the clients.
func BenchmarkFloorClients(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := newWorld(b, nil)
			for i := range n {
				putClient(b, w.st, store.Client{ID: fmt.Sprintf("client-%d", i), SigningAlg: "HS256", AllowedSources: []string{appHS}})
			}
			f := newFloor(b, w, appHS, apiHS)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := f.run(); err != nil {
					b.Fatal(err)
				}
			}
			runtime.KeepAlive(w)
		})
	}
}

// exchangeBenchPairs are the pairs the token-exchange budget names: an
// exchange without an actor within 1.05× the delegation of the same pair,
// and with an actor within the delegation plus one verification of the
// actor token (BenchmarkFloorVerify).
var exchangeBenchPairs = []struct{ name, source, target string }{
	{"HS256-HS256", appHS, apiHS},
	{"RS256-EdDSA", appRS, apiEd},
}

// newExchangeBenchWorld is the standard world in which the sources of
// exchangeBenchPairs may also use the token-exchange grant.
func newExchangeBenchWorld(b *testing.B) *world {
	b.Helper()
	w := newWorld(b, nil)
	for _, p := range exchangeBenchPairs {
		c, err := w.st.Client(context.Background(), p.source)
		if err != nil {
			b.Fatal(err)
		}
		n := *c
		n.Grants = []string{engine.GrantTypeJWTBearer, engine.GrantTypeTokenExchange}
		putClient(b, w.st, n)
	}
	return w
}

// benchActor is the actor token of the token-exchange benchmarks: an
// id_token of the requester's, for another subject.
func benchActor(b *testing.B, w *world, source string) string {
	return w.idToken(b, source, func(c claims.Set) { c["sub"] = "svc|worker" })
}

// BenchmarkTokenExchange measures an RFC 8693 exchange of an id_token for
// an access token, without and with an actor token, beside the delegation
// of the same token to the same target in the same world, so that the
// budget's ratios come from one run.
func BenchmarkTokenExchange(b *testing.B) {
	w := newExchangeBenchWorld(b)
	for _, p := range exchangeBenchPairs {
		subject := w.idToken(b, p.source, nil)
		exchange := &engine.Request{
			GrantType: engine.GrantTypeTokenExchange, ClientID: p.source,
			SubjectToken: subject, SubjectTokenType: engine.TokenTypeIDToken,
			Audience: []string{p.target}, Scope: benchScope,
		}
		withActor := *exchange
		withActor.ActorToken, withActor.ActorTokenType = benchActor(b, w, p.source), engine.TokenTypeIDToken
		for _, c := range []struct {
			name string
			req  *engine.Request
		}{
			{"delegation", delegation(p.source, subject, p.target, benchScope)},
			{"exchange", exchange},
			{"exchange-actor", &withActor},
		} {
			b.Run(p.name+"/"+c.name, func(b *testing.B) {
				ctx := context.Background()
				if _, err := w.x.Exchange(ctx, c.req); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.x.Exchange(ctx, c.req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFloorVerify is one verification of the actor token of
// BenchmarkTokenExchange done directly with go-jose: parse and verify,
// and then also decode the claims to a map, as any use of the token must.
func BenchmarkFloorVerify(b *testing.B) {
	w := newExchangeBenchWorld(b)
	for _, p := range exchangeBenchPairs {
		f := newFloor(b, w, p.source, p.target)
		f.token = benchActor(b, w, p.source)
		b.Run(p.name+"/parse-verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(f.token, f.algs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.Verify(f.verifyKey); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/parse-verify-decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(f.token, f.algs)
				if err != nil {
					b.Fatal(err)
				}
				payload, err := jws.Verify(f.verifyKey)
				if err != nil {
					b.Fatal(err)
				}
				var c map[string]any
				if err := josejson.Unmarshal(payload, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenExchangeBudget checks the token-exchange budget on a
// noisy machine: it interleaves short batches of the delegation, the
// exchange, the exchange with an actor and the go-jose verification of the
// actor token (parse, verify, decode), and reports the median over rounds
// of each one's ns/op and of the budget's ratios, which slow drift in the
// machine's speed affects alike. exch/deleg must stay ≤ 1.05 and
// actor/(deleg+verify) ≤ 1.
func BenchmarkTokenExchangeBudget(b *testing.B) {
	w := newExchangeBenchWorld(b)
	for _, p := range exchangeBenchPairs {
		b.Run(p.name, func(b *testing.B) {
			subject := w.idToken(b, p.source, nil)
			exchange := &engine.Request{
				GrantType: engine.GrantTypeTokenExchange, ClientID: p.source,
				SubjectToken: subject, SubjectTokenType: engine.TokenTypeIDToken,
				Audience: []string{p.target}, Scope: benchScope,
			}
			withActor := *exchange
			withActor.ActorToken, withActor.ActorTokenType = benchActor(b, w, p.source), engine.TokenTypeIDToken
			deleg := delegation(p.source, subject, p.target, benchScope)
			f := newFloor(b, w, p.source, p.target)
			f.token = withActor.ActorToken
			ctx := context.Background()
			exch := func(req *engine.Request) func() error {
				return func() error { _, err := w.x.Exchange(ctx, req); return err }
			}
			verify := func() error {
				jws, err := jose.ParseSignedCompact(f.token, f.algs)
				if err != nil {
					return err
				}
				payload, err := jws.Verify(f.verifyKey)
				if err != nil {
					return err
				}
				var c map[string]any
				return josejson.Unmarshal(payload, &c)
			}
			ops := []func() error{exch(deleg), exch(exchange), exch(&withActor), verify}
			const batch = 20
			var rounds [4][]float64
			b.ReportAllocs()
			for b.Loop() {
				for i, op := range ops {
					start := time.Now()
					for range batch {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
					rounds[i] = append(rounds[i], float64(time.Since(start).Nanoseconds())/batch)
				}
			}
			ratios := make([][]float64, 2)
			for r := range rounds[0] {
				d, e, a, v := rounds[0][r], rounds[1][r], rounds[2][r], rounds[3][r]
				ratios[0] = append(ratios[0], e/d)
				ratios[1] = append(ratios[1], a/(d+v))
			}
			for i, unit := range []string{"deleg-ns", "exch-ns", "actor-ns", "verify-ns"} {
				b.ReportMetric(median(rounds[i]), unit)
			}
			b.ReportMetric(median(ratios[0]), "exch/deleg")
			b.ReportMetric(median(ratios[1]), "actor/(deleg+verify)")
		})
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
