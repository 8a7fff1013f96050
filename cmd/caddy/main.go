// Command caddy is Caddy with its standard modules and stauth.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/stauth/caddy-stauth"
)

func main() {
	caddycmd.Main()
}
