// Package addons is the home of deputy's add-on minters, the api_type
// values of Auth0's /delegation beyond the built-in id_token: each lives in
// a package of its own (firebase, azure). They are a module of their own so
// that their test oracles (the Azure SDK) never reach the core module.
package addons
