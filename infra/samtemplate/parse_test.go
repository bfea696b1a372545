package samtemplate

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

const mergeTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Quota:
    Type: Number
    Default: 5
  Audience:
    Type: CommaDelimitedList
    Default: "a, b"
  KeyParam:
    Type: String
    Default: /app/key
  NoDefault:
    Type: String
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Architectures: [arm64]
    Timeout: 30
    Environment:
      Variables:
        SHARED: global
        OVERRIDDEN: global
        QUOTA: !Ref Quota
        TABLE: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/plain
  Tuned:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: go1.x
    Properties:
      CodeUri: functions/tuned
      Runtime: provided.al2
      Architectures: [x86_64]
      Timeout: 900
      MemorySize: 1024
      Environment:
        Variables:
          OVERRIDDEN: local
          KEY_REF: !Sub "ssm:${KeyParam}"
          ESCAPED: !Sub "${!Literal}-${AWS::Region}-${Table.Arn}"
          ARN: !GetAtt Table.Arn
          LONG_ARN:
            Fn::GetAtt: [Table, Arn]
          NAMED: !Sub ["${x}-${KeyParam}", {x: !Ref Quota}]
          MISSING: !Ref NoDefault
          NUMBER: 42
          AUD: !Join [",", !Ref Audience]
`

func TestParseGlobalsMerge(t *testing.T) {
	tpl, err := Parse([]byte(mergeTemplate))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := tpl.Function("Plain")
	tuned, _ := tpl.Function("Tuned")
	tests := []struct {
		name      string
		got, want any
	}{
		{"scalar from Globals", plain.Runtime, "provided.al2023"},
		{"scalar overridden", tuned.Runtime, "provided.al2"},
		{"handler from Globals", tuned.Handler, "bootstrap"},
		{"timeout from Globals", plain.Timeout, 30},
		{"timeout overridden", tuned.Timeout, 900},
		{"memory default", plain.MemorySize, DefaultMemorySize},
		{"memory set", tuned.MemorySize, 1024},
		{"list from Globals", strings.Join(plain.Architectures, ","), "arm64"},
		{"lists append (SAM)", strings.Join(tuned.Architectures, ","), "arm64,x86_64"},
		{"build method", tuned.BuildMethod, "go1.x"},
		{"no build method", plain.BuildMethod, ""},
		{"env from Globals", tuned.Environment["SHARED"], "global"},
		{"env overridden per key", tuned.Environment["OVERRIDDEN"], "local"},
		{"env not leaked to sibling", plain.Environment["OVERRIDDEN"], "global"},
		{"Ref Number param is a string in env", plain.Environment["QUOTA"], "5"},
		{"Ref resource is its logical id", plain.Environment["TABLE"], "Table"},
		{"Sub with parameter", tuned.Environment["KEY_REF"], "ssm:/app/key"},
		{"Sub escapes, pseudo, attribute", tuned.Environment["ESCAPED"], "${Literal}-us-east-1-${Table.Arn}"},
		{"GetAtt short form", tuned.Environment["ARN"], "${Table.Arn}"},
		{"GetAtt long form", tuned.Environment["LONG_ARN"], "${Table.Arn}"},
		{"Sub with variable map", tuned.Environment["NAMED"], "5-/app/key"},
		{"Ref param without default", tuned.Environment["MISSING"], ""},
		{"literal number", tuned.Environment["NUMBER"], "42"},
		{"Ref list param", tuned.Environment["AUD"], "a,b"},
		{"env names sorted", strings.Join(plain.EnvNames(), ","), "OVERRIDDEN,QUOTA,SHARED,TABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestParseParametersAndOverrides(t *testing.T) {
	tpl, err := Parse([]byte(mergeTemplate), WithParameters(map[string]string{"Quota": "9", "NoDefault": "given"}))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tpl.Function("Tuned")
	if got := f.Environment["NAMED"]; got != "9-/app/key" {
		t.Errorf("override not applied through Sub: NAMED = %q", got)
	}
	if got := f.Environment["MISSING"]; got != "given" {
		t.Errorf("override not applied through Ref: MISSING = %q", got)
	}
	params := map[string]Parameter{}
	for _, p := range tpl.Parameters() {
		params[p.Name] = p
	}
	tests := []struct {
		name       string
		def        string
		hasDefault bool
	}{
		{"Quota", "9", true},
		{"Audience", "a,b", true},
		{"KeyParam", "/app/key", true},
		{"NoDefault", "given", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := params[tt.name]
			if !ok {
				t.Fatal("missing")
			}
			if p.Default != tt.def || p.HasDefault != tt.hasDefault {
				t.Errorf("Default = %q (%v), want %q (%v)", p.Default, p.HasDefault, tt.def, tt.hasDefault)
			}
		})
	}
	if _, err := Parse([]byte(mergeTemplate), WithParameters(map[string]string{"Nope": "x"})); err == nil || !strings.Contains(err.Error(), `"Nope"`) {
		t.Errorf("override of an unknown parameter: err = %v, want one naming it", err)
	}
}

const routeTemplate = `
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              Issuer: https://issuer.test/
              Audience: [one]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: "/things/{id}"}
        Hook:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /hook
            PayloadFormatVersion: "1.0"
            Auth: {Authorizer: NONE}
        Implicit:
          Type: HttpApi
          Properties: {Method: GET, Path: /implicit}
        Queue:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:q}
`

func TestParseRoutes(t *testing.T) {
	tpl, err := Parse([]byte(routeTemplate))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Route{}
	for _, r := range tpl.Routes() {
		got[r.Key()] = r
	}
	tests := []struct {
		key, api, payload, authorizer string
	}{
		{"GET /things/{id}", "Api", "2.0", "Jwt"},
		{"POST /hook", "Api", "1.0", ""},
		{"GET /implicit", ImplicitHTTPAPI, "2.0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			r, ok := got[tt.key]
			if !ok {
				t.Fatalf("no route %s in %v", tt.key, got)
			}
			if r.API != tt.api || r.PayloadFormatVersion != tt.payload || r.Authorizer != tt.authorizer || r.Function != "Fn" {
				t.Errorf("route = %+v, want API %s, payload %s, authorizer %q, function Fn", r, tt.api, tt.payload, tt.authorizer)
			}
		})
	}
	if len(got) != len(tests) {
		t.Errorf("routes = %v; the SQS event must not be a route", got)
	}
	api, ok := tpl.HTTPAPI("Api")
	if !ok {
		t.Fatal("no API")
	}
	a := api.Authorizers["Jwt"]
	if a.Type != "JWT" || a.Issuer != "https://issuer.test/" || strings.Join(a.Audience, ",") != "one" {
		t.Errorf("capitalised JwtConfiguration keys: authorizer = %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	fn := func(events string) string {
		return `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Events:
` + events
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"invalid YAML", "Resources: [", "parse"},
		{"unknown function property", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn, Bogus: 1}\n", "Bogus"},
		{"duplicate route", fn(`
        A: {Type: HttpApi, Properties: {Method: GET, Path: "/x/{id}"}}
        B: {Type: HttpApi, Properties: {Method: get, Path: "/x/{other}"}}
`), "declared twice"},
		{"missing method", fn(`
        A: {Type: HttpApi, Properties: {Path: /x}}
`), "Method is required"},
		{"relative path", fn(`
        A: {Type: HttpApi, Properties: {Method: GET, Path: x}}
`), "must start with /"},
		{"greedy not last", fn(`
        A: {Type: HttpApi, Properties: {Method: GET, Path: "/x/{p+}/y"}}
`), "greedy"},
		{"partial variable", fn(`
        A: {Type: HttpApi, Properties: {Method: GET, Path: "/x/a{id}"}}
`), "whole segment"},
		{"unknown ApiId", fn(`
        A: {Type: HttpApi, Properties: {ApiId: Elsewhere, Method: GET, Path: /x}}
`), "Elsewhere"},
		{"default authorizer not defined", `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: {DefaultAuthorizer: Missing, Authorizers: {}}
`, "Missing"},
		{"NotAction", `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Policies:
        - Statement: [{Effect: Allow, NotAction: "s3:*", Resource: "*"}]
`, "NotAction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTableLogicalID(t *testing.T) {
	table := func(id string) string {
		return "  " + id + ":\n    Type: AWS::DynamoDB::Table\n    Properties: {KeySchema: [{AttributeName: PK, KeyType: HASH}]}\n"
	}
	tests := []struct {
		name, resources, want string
		wantErr               bool
	}{
		{"one", table("T"), "T", false},
		{"none", "  Q:\n    Type: AWS::SQS::Queue\n", "", true},
		{"two", table("A") + table("B"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Parse([]byte("Resources:\n" + tt.resources))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.TableLogicalID()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("TableLogicalID() = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Policies:
        - AWSLambdaBasicExecutionRole
        - DynamoDBReadPolicy: {TableName: t}
        - Statement:
            Effect: Allow
            Action: sqs:SendMessage
            Resource: [arn:aws:sqs:us-east-1:123456789012:q]
        - Version: "2012-10-17"
          Statement:
            - Sid: Two
              Effect: Allow
              Action: [ssm:GetParameter, ssm:GetParameters]
              Resource: !Sub "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/x"
`))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tpl.Function("Fn")
	got := fmt.Sprint(f.ManagedPolicies, f.Policies)
	want := "[AWSLambdaBasicExecutionRole DynamoDBReadPolicy] [{ Allow [sqs:SendMessage] [arn:aws:sqs:us-east-1:123456789012:q] map[]} {Two Allow [ssm:GetParameter ssm:GetParameters] [arn:aws:ssm:us-east-1:123456789012:parameter/x] map[]}]"
	if got != want {
		t.Errorf("policies:\n got  %s\n want %s", got, want)
	}
}

// goformation keeps its YAML tag resolvers in a package-level map; Load
// must be safe to call from several goroutines (run with -race).
func TestParseConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := Parse([]byte(mergeTemplate)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReturnedValuesAreCopies(t *testing.T) {
	tpl, err := Parse([]byte(mergeTemplate))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tpl.Function("Plain")
	f.Environment["SHARED"] = "changed"
	f.Architectures[0] = "changed"
	again, _ := tpl.Function("Plain")
	if again.Environment["SHARED"] != "global" || again.Architectures[0] != "arm64" {
		t.Errorf("a caller's change leaked into the template: %v %v", again.Environment, again.Architectures)
	}
}
