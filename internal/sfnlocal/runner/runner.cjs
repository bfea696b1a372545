'use strict';
// The ASL interpreter of internal/sfnlocal: one long-lived process that runs
// every execution with aws-local-stepfunctions and leaves all I/O to the Go
// server. Every Task state is routed to the server through the library's
// taskResourceLocalHandlers (the server invokes Lambda, waits for task
// tokens and records history), so this file only interprets the ASL.
//
// Protocol: one JSON object per line, `t` naming the message.
//   server -> runner (stdin)
//     {t:"machine", name, definition}            compile and validate
//     {t:"start", exec, machine, input, context, waits, retries}
//     {t:"stop", exec}                            StopExecution
//     {t:"result", exec, call, output} | {t:"result", exec, call, error, cause}
//   runner -> server (stdout)
//     {t:"ready", node}
//     {t:"machine", name, error?}
//     {t:"event", exec, event}                    the library's event log, in order
//     {t:"call", exec, call, state, resource, input, tokens, timeoutSeconds?, heartbeatSeconds?}
//     {t:"end", exec, status, output?, error?, cause?}
// Node 20 needs polyfill.cjs (see there); without it the runner exits at once.

if (typeof Promise.withResolvers !== 'function') {
  process.stderr.write(
    'sfnlocal runner: Promise.withResolvers is missing (Node ' + process.version +
      '); aws-local-stepfunctions needs it in every Task state. Start the runner with --require polyfill.cjs.\n',
  );
  process.exit(3);
}

const crypto = require('node:crypto');
const readline = require('node:readline');
const { StateMachine, ExecutionAbortedError, ExecutionTimeoutError, ExecutionError } = require('aws-local-stepfunctions');

// setTimeout fires at once for delays over 2^31-1 ms, so longer timeouts
// (AWS's Task default is 99999999 s) are clamped to about 24.8 days.
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

const machines = new Map(); // name -> {machine, tasks: Map(state name -> state definition)}
const executions = new Map(); // exec ARN -> {calls: Map(call -> {resolve, reject}), unclaimed: Set}
let nextCall = 1;

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

// prepare returns the definition the library runs (Task timeouts made
// explicit, see MAX_TIMEOUT_SECONDS) and the Task states by name, nested
// ones included, since the task handlers are looked up by state name.
function prepare(definition) {
  const def = structuredClone(definition);
  const tasks = new Map();
  const walk = (machine) => {
    for (const [name, state] of Object.entries(machine.States ?? {})) {
      if (state.Type === 'Task') {
        tasks.set(name, structuredClone(state));
        // The library reads TimeoutSecondsPath from the effective input
        // (after Parameters); AWS reads it from the state's input. The
        // server applies it, from the input the state entered with.
        if (state.TimeoutSecondsPath !== undefined) delete state.TimeoutSecondsPath;
        if (state.TimeoutSeconds === undefined) {
          state.TimeoutSeconds = MAX_TIMEOUT_SECONDS;
        } else if (state.TimeoutSeconds > MAX_TIMEOUT_SECONDS) {
          state.TimeoutSeconds = MAX_TIMEOUT_SECONDS;
        }
      }
      for (const branch of state.Branches ?? []) walk(branch);
      if (state.Iterator) walk(state.Iterator);
      if (state.ItemProcessor) walk(state.ItemProcessor);
    }
  };
  walk(def);
  if (def.TimeoutSeconds > MAX_TIMEOUT_SECONDS) def.TimeoutSeconds = MAX_TIMEOUT_SECONDS;
  return { def, tasks };
}

function onMachine(msg) {
  try {
    const { def, tasks } = prepare(msg.definition);
    const machine = new StateMachine(def, { validationOptions: { checkArn: true, checkPaths: true } });
    machines.set(msg.name, { machine, tasks });
    send({ t: 'machine', name: msg.name });
  } catch (err) {
    send({ t: 'machine', name: msg.name, error: String(err.message ?? err) });
  }
}

// slim keeps what the server maps to AWS history events.
function slim(ev) {
  const out = { type: ev.type, ts: ev.timestamp };
  if (ev.state) {
    out.state = ev.state.name;
    out.stateType = ev.state.type;
    if (ev.type === 'StateEntered') out.input = ev.state.input;
    if (ev.type === 'StateExited') out.output = ev.state.output;
  }
  if (ev.parentState) {
    out.state = ev.parentState.name;
    out.stateType = ev.parentState.type;
  }
  if (ev.index !== undefined) out.index = ev.index;
  if (ev.type === 'ExecutionSucceeded') out.output = ev.output;
  if ('Error' in ev) {
    out.error = ev.Error;
    out.cause = typeof ev.Cause === 'string' ? ev.Cause : JSON.stringify(ev.Cause ?? null);
  }
  return out;
}

// A task token is minted when a state's Parameters read $$.Task.Token; every
// read before the next Task handler call gets the same token, and that call
// claims it (processInput and the handler call run in one synchronous
// stretch, so concurrent branches cannot take each other's token).
function taskContext(exec) {
  return {
    get Token() {
      if (exec.unclaimed.size === 0) exec.unclaimed.add('sfnlocal1.' + crypto.randomBytes(32).toString('base64url'));
      return exec.unclaimed.values().next().value;
    },
  };
}

function onStart(msg) {
  const entry = machines.get(msg.machine);
  if (!entry) {
    send({ t: 'end', exec: msg.exec, status: 'FAILED', error: 'States.Runtime', cause: 'unknown state machine ' + msg.machine });
    return;
  }
  const exec = { calls: new Map(), unclaimed: new Set() };
  executions.set(msg.exec, exec);
  const handler = (stateName) => (input) =>
    new Promise((resolve, reject) => {
      const state = entry.tasks.get(stateName) ?? {};
      const call = nextCall++;
      const text = JSON.stringify(input);
      const tokens = [...exec.unclaimed].filter((tok) => text.includes(tok));
      exec.unclaimed.clear();
      exec.calls.set(call, { resolve, reject });
      // The library logs StateEntered before it calls this handler, but its
      // event log reaches the pump below only after a few microtasks: wait
      // for them so the server sees the state entered before its call.
      setImmediate(() =>
        send({
          t: 'call',
          exec: msg.exec,
          call,
          state: stateName,
          resource: state.Resource,
          input,
          tokens,
          timeoutSeconds: state.TimeoutSeconds,
          timeoutSecondsPath: state.TimeoutSecondsPath,
          heartbeatSeconds: state.HeartbeatSeconds,
        }),
      );
    });
  const run = entry.machine.run(msg.input, {
    context: { ...msg.context, Task: taskContext(exec) },
    overrides: {
      taskResourceLocalHandlers: new Proxy({}, { get: (_, name) => (typeof name === 'string' ? handler(name) : undefined) }),
      waitTimeOverrides: msg.waits ?? {},
      retryIntervalOverrides: msg.retries ?? {},
    },
  });
  exec.abort = run.abort;
  const pump = (async () => {
    for await (const ev of run.eventLogs) send({ t: 'event', exec: msg.exec, event: slim(ev) });
  })();
  run.result
    .then(
      (output) => ({ status: 'SUCCEEDED', output }),
      (err) => {
        if (err instanceof ExecutionAbortedError) return { status: 'ABORTED' };
        if (err instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
        const cause = err instanceof ExecutionError ? err.cause : err;
        const c = cause?.cause ?? cause?.message ?? String(cause);
        return { status: 'FAILED', error: cause?.name ?? 'States.Runtime', cause: typeof c === 'string' ? c : JSON.stringify(c) };
      },
    )
    .then(async (end) => {
      await pump;
      executions.delete(msg.exec);
      send({ t: 'end', exec: msg.exec, ...end });
    });
}

function onResult(msg) {
  const exec = executions.get(msg.exec);
  const call = exec?.calls.get(msg.call);
  if (!call) return;
  exec.calls.delete(msg.call);
  if (msg.error !== undefined) {
    const err = new Error(msg.cause ?? '');
    err.name = msg.error;
    if (msg.error === 'States.Runtime') {
      // As in AWS (and the library's own StatesRuntimeError): no Retry or
      // Catch handles it, States.ALL included; the execution fails.
      err.isRetryable = false;
      err.isCatchable = false;
    }
    call.reject(err);
  } else {
    call.resolve(msg.output ?? null);
  }
}

const handlers = {
  machine: onMachine,
  start: onStart,
  stop: (msg) => executions.get(msg.exec)?.abort?.(),
  result: onResult,
};

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (line.trim() === '') return;
  const msg = JSON.parse(line);
  const h = handlers[msg.t];
  if (!h) throw new Error('sfnlocal runner: unknown message ' + msg.t);
  h(msg);
}).on('close', () => process.exit(0));

send({ t: 'ready', node: process.version });
