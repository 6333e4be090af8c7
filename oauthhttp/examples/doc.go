// Package examples mounts deputy's oauthhttp handlers on the routers
// embedders use: net/http's ServeMux, chi and gin. It is a module of its
// own so that the core module never requires a router; its examples are
// compiled and run by go test.
package examples
