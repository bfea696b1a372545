// Package local runs sandstep on one machine with no AWS account and no
// Daytona key: the same handlers, store and Daytona client as in AWS, with
// only the endpoints changed (docs/architecture.md, "The local stack").
//
// Start brings up, on 127.0.0.1 only:
//
//	port  what
//	3000  API Gateway (HTTP API) emulator: the routes of template.yaml, payload
//	      format 2.0 events, a local stand-in for the JWT authorizer
//	3001  Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations),
//	      as `sam local start-lambda` serves it
//	8000  DynamoDB (the embedded minidyn server), the table created by
//	      store.CreateTable, whose definition a store test holds equal to
//	      template.yaml's AWS::DynamoDB::Table
//	3003  the Daytona-compatible server (internal/daytonalocal), unless the
//	      environment names a real Daytona (DAYTONA_API_KEY or
//	      DAYTONA_API_KEY_REF)
//	8083  reserved for the Step Functions API (not served yet)
//
// Every function of the template is served in-process, wired from one
// app.Env as its main.go wires it in AWS: the
// API emulator turns an HTTP request into the event API Gateway would send
// and invokes the function's handler with it, exactly as the Lambda runtime
// would (the payload is JSON, the answer is JSON or a function error).
//
// # Configuration
//
// The functions' environment is built as `sam local` builds it, in three
// layers, later layers winning:
//
//  1. the template's function environment (Globals merged; for instance
//     DEFAULT_USER_QUOTA is the DefaultUserQuota parameter's default);
//  2. local settings: SANDSTEP_ENV=local, LOG_FORMAT=text, a dummy
//     DAYTONA_API_KEY instead of DAYTONA_API_KEY_REF, dummy AWS credentials
//     and region, AWS_EC2_METADATA_DISABLED=true;
//  3. the user's environment (Options.Getenv), by the same names as in AWS:
//     DEFAULT_USER_QUOTA=3, LOG_LEVEL=debug, TABLE_NAME, DAYTONA_TARGET, ...
//
// The endpoints belong to the stack and are not taken from the user's
// environment: SANDSTEP_ENV is always "local", DYNAMODB_ENDPOINT is always
// the embedded DynamoDB, and with the local Daytona server DAYTONA_API_URL
// and DAYTONA_API_KEY are the stack's. Setting DAYTONA_API_KEY (or
// DAYTONA_API_KEY_REF) selects a real Daytona at DAYTONA_API_URL (default
// https://app.daytona.io/api) instead, and port 3003 is not opened.
//
// # Local identity
//
// Routes protected by an authorizer in the template need
// "Authorization: Bearer <token>"; locally the token is not verified but
// taken as the user id (the JWT "sub" claim), so "Bearer alice" is user
// alice. A request without one is answered 401 {"message":"Unauthorized"}
// before any function runs, as API Gateway's JWT authorizer does.
//
// The local Daytona server runs commands as host processes: it is a
// development stand-in, not a security boundary (see internal/daytonalocal).
package local
