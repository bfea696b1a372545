// Command create is sandstep's CreateFunction: it serves its routes of the HTTP
// API and its step of the state machine (see internal/api).
package main

import (
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/app"
)

func main() { app.Main(app.Lifecycle(api.FunctionCreate)) }
