'use strict';
// aws-local-stepfunctions 3.0.0 calls Promise.withResolvers (Node 22+) in
// every Task state. Node 20 lacks it, and the TypeError it throws is an
// ordinary task failure that a Retry/Catch on States.TaskFailed swallows, so
// the runner is started with `node --require polyfill.cjs` and refuses to
// run without it (runner.cjs).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
