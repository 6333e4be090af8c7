package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deputyauth/deputy/store"
)

func ExampleMemory_Client() {
	m := store.NewMemory()
	err := m.PutClient(store.Client{
		ID:             "app",
		Name:           "Example app",
		SigningAlg:     "HS256",
		Secrets:        []store.Secret{{ID: "2025-01", Value: []byte("0123456789abcdef0123456789abcdef")}},
		AllowedSources: []string{"spa"},
	})
	if err != nil {
		panic(err)
	}

	c, err := m.Client(context.Background(), "app")
	fmt.Println(c.Name, c.SigningAlg, c.AllowedSources, err)
	// Output:
	// Example app HS256 [spa] <nil>
}

func ExampleMemory_Client_notFound() {
	m := store.NewMemory()
	_, err := m.Client(context.Background(), "nobody")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	fmt.Println(err)
	// Output:
	// true
	// store: not found: client "nobody"
}

func ExampleMemory_Use() {
	m := store.NewMemory()
	ctx := context.Background()
	for range 2 {
		first, err := m.Use(ctx, "https://id.example.com/|jti-1", time.Hour)
		fmt.Println(first, err)
	}
	// Output:
	// true <nil>
	// false <nil>
}

func ExampleMemory_PutClient_invalid() {
	m := store.NewMemory()
	err := m.PutClient(store.Client{ID: "app", SigningAlg: "HS256", Secrets: []store.Secret{{ID: "s", Value: []byte("too short")}}})
	fmt.Println(errors.Is(err, store.ErrInvalidClient))
	fmt.Println(err)
	// Output:
	// true
	// store: invalid client "app": secret "s" shorter than 32 bytes
}
