// Command sandstep-local runs the local stack (package infra/local): the API
// Gateway emulator on 127.0.0.1:3000, the Lambda Invoke API on :3001,
// DynamoDB on :8000, SSM, Secrets Manager and S3 on :4566, the
// Daytona-compatible server on :3003, Step Functions on :8083 and the
// GitHub stand-in on :3005, all in this one process, until SIGINT,
// SIGTERM or SIGHUP (its terminal closed; not when started with SIGHUP
// ignored, as nohup starts it). What they hold is kept in the data
// directory (default .sandstep/local beside template.yaml) and is there
// again at the next start.
//
// Configuration comes from the environment by the names the functions use
// in AWS (DEFAULT_USER_QUOTA=3, LOG_LEVEL=debug, DAYTONA_API_KEY=... for a
// real Daytona); see the package documentation of infra/local. `make local`
// runs it.
//
// Usage:
//
//	sandstep-local [-api-port 3000] [-lambda-port 3001] [-dynamodb-port 8000]
//	               [-aws-port 4566] [-daytona-port 3003] [-sfn-port 8083]
//	               [-github-port 3005] [-template template.yaml]
//	               [-data-dir .sandstep/local]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sandstep/sandstep/infra/local"
)

// defaultDataDir is where the stack keeps its state, beside template.yaml
// (git ignores it).
const defaultDataDir = ".sandstep/local"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	def := local.DefaultPorts()
	fs := flag.NewFlagSet("sandstep-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		ports    local.Ports
		template = fs.String("template", "", "SAM template (default: template.yaml in this or a parent directory)")
		dataDir  = fs.String("data-dir", defaultDataDir, "directory the stack keeps its state in across restarts; relative to template.yaml's directory")
	)
	fs.IntVar(&ports.API, "api-port", def.API, "port of the API Gateway emulator")
	fs.IntVar(&ports.Lambda, "lambda-port", def.Lambda, "port of the Lambda Invoke API")
	fs.IntVar(&ports.DynamoDB, "dynamodb-port", def.DynamoDB, "port of DynamoDB")
	fs.IntVar(&ports.AWS, "aws-port", def.AWS, "port of SSM, Secrets Manager and S3")
	fs.IntVar(&ports.Daytona, "daytona-port", def.Daytona, "port of the Daytona-compatible server")
	fs.IntVar(&ports.StepFunctions, "sfn-port", def.StepFunctions, "port of the Step Functions API")
	fs.IntVar(&ports.GitHub, "github-port", def.GitHub, "port of the GitHub stand-in")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	if *template == "" {
		wd, err := os.Getwd()
		if err == nil {
			*template, err = local.FindTemplate(wd)
		}
		if err != nil {
			fmt.Fprintf(stderr, "sandstep-local: %v\n", err)
			return 1
		}
	}
	if !filepath.IsAbs(*dataDir) {
		*dataDir = filepath.Join(filepath.Dir(*template), *dataDir)
	}

	// A closed terminal (SIGHUP) stops the stack as Ctrl-C does: by
	// default it would end the process at once, leaving the sandboxes'
	// processes running and the last seconds of the table unsaved. Unless
	// the process was started with SIGHUP ignored (`nohup make local`):
	// Notify would install a handler, and the hangup nohup was asked to
	// ignore would stop the stack.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	hangup := !signal.Ignored(syscall.SIGHUP)
	if hangup {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	st, err := local.Start(ctx, local.Options{
		Ports:        ports,
		LogWriter:    stderr,
		TemplatePath: *template,
		DataDir:      *dataDir,
	})
	if err != nil {
		fmt.Fprintf(stderr, "sandstep-local: %v\n", err)
		var inUse *local.PortInUseError
		if errors.As(err, &inUse) {
			fmt.Fprintln(stderr, "sandstep-local: is another `make local` running? Stop it, or choose other ports "+
				"with -api-port, -lambda-port, -dynamodb-port, -aws-port, -daytona-port, -sfn-port and -github-port.")
		}
		var dirInUse *local.DataDirInUseError
		if errors.As(err, &dirInUse) {
			fmt.Fprintln(stderr, "sandstep-local: is another `make local` running on this data directory? Stop it, or give this one "+
				"another with -data-dir (LOCAL_FLAGS='-data-dir /some/dir').")
		}
		return 1
	}
	if err := st.WriteBanner(stdout); err != nil {
		fmt.Fprintf(stderr, "sandstep-local: %v\n", err)
	}

	<-ctx.Done()
	// A second Ctrl-C (or SIGTERM) ends the process at once. A second
	// SIGHUP does not: a closed terminal often sends two (bash forwards its
	// own to its jobs, then the kernel hangs up the foreground group), and
	// the second would kill the process in the middle of Close. Held on a
	// channel of its own from before stop() lets the others go until the
	// shutdown ends, SIGHUP never has its default action meanwhile.
	if hangup {
		held := make(chan os.Signal, 1)
		signal.Notify(held, syscall.SIGHUP)
		defer signal.Stop(held)
	}
	stop()
	fmt.Fprintln(stderr, "sandstep-local: shutting down")
	start := time.Now()
	if err := st.Close(); err != nil {
		fmt.Fprintf(stderr, "sandstep-local: shutdown: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "sandstep-local: stopped in %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}
