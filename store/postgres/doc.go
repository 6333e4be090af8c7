// Package postgres is a deputy store on PostgreSQL, for several replicas of
// an auth server sharing clients, keys, refresh grants, profiles and one
// replay cache.
package postgres
