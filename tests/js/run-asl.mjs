// Runs Amazon States Language definitions on `aws-local-stepfunctions`, a second engine the
// end-to-end tests compare the workspace's own runner with (tests/src/aws_local_stepfunctions.rs).
//
// Reads one JSON object on stdin, either one case or a batch of them:
//
//   {"definition": {...}, "input": ..., "context": {...}, "lambdaEndpoint": "http://127.0.0.1:PORT"}
//   {"cases": [{"definition": ..., "input": ..., "context": ..., "lambdaEndpoint": ...}, ...]}
//
// where the optional "context" is the context object ($$) the execution starts from.
//
// and prints one JSON object on stdout, an observation or {"results": [observation, ...]}:
//
//   {"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "INVALID_DEFINITION" | "UNSUPPORTED",
//    "output": <json or null>, "error": <string or null>, "cause": <string or null>,
//    "statesEntered": ["StateA", ...]}
//
// Task states whose Resource is a Lambda function ARN POST their input to the Lambda Invoke API
// at `lambdaEndpoint`, and so does the optimized integration arn:aws:states:::lambda:invoke
// (its FunctionName and Payload), answering the Invoke response as Step Functions does. Any
// other Resource makes the case UNSUPPORTED without running it, so the library never reaches
// for AWS itself, and so do fields the library would silently ignore (JSONata, variables,
// Distributed Map). The cases of a batch run one after another, since a
// Lambda endpoint may count the calls it answers, unless the batch says "concurrent": true.
// Waits and Retry intervals are real.
//
// Run it with `node tests/js/run-asl.mjs < case.json` once `make test` (or
// `npm ci --prefix tests/js`) has installed the library.

// The library calls Promise.withResolvers (Node 22); this machine runs Node 20. Defined before
// the library is imported, with a dynamic import, since static imports are hoisted.
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

const { StateMachine, ExecutionError, ExecutionTimeoutError } = await import(
  'aws-local-stepfunctions'
);

// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
const LAMBDA_FUNCTION_ARN = /^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:([\w-]+)(?::([\w$-]+))?$/;

// The optimized Lambda integration, request-response.
const LAMBDA_INVOKE_INTEGRATION = 'arn:aws:states:::lambda:invoke';

// A function as the integration's FunctionName names it: NAME[:QUALIFIER], or an ARN.
const FUNCTION_NAME = /^(?:arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:)?([\w-]+)(?::([\w$-]+))?$/;

/** Every Task state of a definition, its Map iterators and Parallel branches included. */
function taskStates(definition, found = []) {
  for (const [name, state] of Object.entries(definition?.States ?? {})) {
    if (state?.Type === 'Task') found.push({ name, resource: state.Resource });
    for (const nested of [state?.Iterator, state?.ItemProcessor, ...(state?.Branches ?? [])]) {
      if (nested) taskStates(nested, found);
    }
  }
  return found;
}

// Fields the library's validator lets through but its engine ignores, so a definition that
// uses them would run to a wrong answer rather than fail: JSONata, variables, Distributed Map.
const IGNORED_FIELDS = ['QueryLanguage', 'Assign', 'Arguments', 'Output', 'Items', 'ItemReader', 'ItemBatcher', 'ResultWriter'];

/** The first field of a definition (its states and nested machines included) the library ignores. */
function ignoredField(definition) {
  const query = definition?.QueryLanguage;
  if (query !== undefined && query !== 'JSONPath') return 'QueryLanguage';
  for (const state of Object.values(definition?.States ?? {})) {
    const field = IGNORED_FIELDS.find((name) => name in (state ?? {}) && !(name === 'QueryLanguage' && state.QueryLanguage === 'JSONPath'));
    if (field) return field;
    for (const nested of [state?.Iterator, state?.ItemProcessor, ...(state?.Branches ?? [])]) {
      const inner = nested && ignoredField(nested);
      if (inner) return inner;
    }
  }
  return null;
}

/** An error a Task state fails with, named as Step Functions names it. */
function taskError(name, cause) {
  // A plain Error: the library reads `name` as the error and `message` as the cause, and would
  // prefer a `cause` property to the message in its event log, so none is set.
  const error = new Error(cause);
  error.name = name;
  return error;
}

/**
 * Calls a function through the Lambda Invoke API as Step Functions does for a Task state whose
 * Resource is the function's ARN: the result is the response payload, a function error fails
 * the state with the payload's errorType as the error and the payload as the cause.
 */
async function invokeLambda(endpoint, functionName, qualifier, input) {
  const query = qualifier ? `?Qualifier=${encodeURIComponent(qualifier)}` : '';
  const url = `${endpoint.replace(/\/$/, '')}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations${query}`;

  let response;
  let body;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
      body: JSON.stringify(input),
    });
    body = await response.text();
  } catch (e) {
    throw taskError('Lambda.SdkClientException', `${e.message}${e.cause ? `: ${e.cause.message}` : ''}`);
  }

  if (!response.ok) {
    // The Invoke API names its own failures in x-amzn-ErrorType ("Name:uri"); Step Functions
    // reports them as Lambda.<Name>.
    const type = (response.headers.get('x-amzn-errortype') ?? 'ServiceException').split(':')[0];
    throw taskError(`Lambda.${type}`, body);
  }

  if (response.headers.has('x-amz-function-error')) {
    let errorType;
    try {
      errorType = JSON.parse(body)?.errorType;
    } catch {
      errorType = undefined;
    }
    throw taskError(typeof errorType === 'string' ? errorType : 'Lambda.Unknown', body);
  }

  return body.trim() === '' ? null : JSON.parse(body);
}

/**
 * Runs the lambda:invoke integration on its effective input ({FunctionName, Payload}): the
 * result is the Invoke response, the function's result under Payload.
 */
async function invokeIntegration(endpoint, taskInput) {
  const match = FUNCTION_NAME.exec(String(taskInput?.FunctionName ?? ''));
  if (!match) {
    throw taskError('Lambda.InvalidParameterValueException', `FunctionName ${JSON.stringify(taskInput?.FunctionName)} names no function`);
  }
  const [, functionName, qualifier] = match;
  const payload = await invokeLambda(endpoint, functionName, qualifier, taskInput.Payload ?? {});
  return { ExecutedVersion: qualifier ?? '$LATEST', Payload: payload, StatusCode: 200 };
}

/** The observation of one case, failures of the harness itself included. */
async function observe({ definition, input, context, lambdaEndpoint }) {
  const observation = { status: null, output: null, error: null, cause: null, statesEntered: [] };

  const ignored = ignoredField(definition);
  if (ignored) {
    return { ...observation, status: 'UNSUPPORTED', error: 'UnsupportedField', cause: `the definition uses ${ignored}, which aws-local-stepfunctions ignores` };
  }

  const handlers = {};
  for (const { name, resource } of taskStates(definition)) {
    if (resource === LAMBDA_INVOKE_INTEGRATION) {
      if (name in handlers && handlers[name].resource !== resource) {
        return { ...observation, status: 'UNSUPPORTED', error: 'DuplicateTaskStateName', cause: `two Task states are named '${name}' with different Resources` };
      }
      handlers[name] = { resource, handler: (taskInput) => invokeIntegration(lambdaEndpoint, taskInput) };
      continue;
    }
    const match = typeof resource === 'string' ? LAMBDA_FUNCTION_ARN.exec(resource) : null;
    if (!match) {
      return { ...observation, status: 'UNSUPPORTED', error: 'UnsupportedResource', cause: `Task state '${name}' has Resource ${JSON.stringify(resource)}; only Lambda function ARNs are run` };
    }
    if (name in handlers && handlers[name].resource !== resource) {
      // The library's override is keyed by state name alone.
      return { ...observation, status: 'UNSUPPORTED', error: 'DuplicateTaskStateName', cause: `two Task states are named '${name}' with different Resources` };
    }
    const [, functionName, qualifier] = match;
    handlers[name] = {
      resource,
      handler: (taskInput) => invokeLambda(lambdaEndpoint, functionName, qualifier, taskInput),
    };
  }
  if (Object.keys(handlers).length > 0 && typeof lambdaEndpoint !== 'string') {
    throw new Error('a case with Task states needs "lambdaEndpoint"');
  }

  let machine;
  try {
    machine = new StateMachine(definition);
  } catch (e) {
    return { ...observation, status: 'INVALID_DEFINITION', error: 'InvalidDefinition', cause: e.message };
  }

  const execution = machine.run(input === undefined ? {} : input, {
    ...(context === undefined ? {} : { context }),
    overrides: {
      taskResourceLocalHandlers: Object.fromEntries(
        Object.entries(handlers).map(([name, { handler }]) => [name, handler]),
      ),
    },
  });

  // The event log closes when the execution ends; it is read alongside the result, not after.
  let failedEvent = null;
  const log = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') observation.statesEntered.push(event.state.name);
      if (event.type === 'ExecutionFailed') failedEvent = event;
    }
  })();

  try {
    observation.output = (await execution.result) ?? null;
    observation.status = 'SUCCEEDED';
  } catch (e) {
    if (e instanceof ExecutionTimeoutError) {
      observation.status = 'TIMED_OUT';
      observation.error = 'States.Timeout';
    } else if (e instanceof ExecutionError) {
      observation.status = 'FAILED';
      observation.error = failedEvent?.Error ?? e.cause?.name ?? null;
      const cause = failedEvent ? failedEvent.Cause : e.cause?.message;
      observation.cause = cause === undefined || cause === null ? null : typeof cause === 'string' ? cause : JSON.stringify(cause);
    } else {
      throw e;
    }
  }
  await log;
  return observation;
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const request = JSON.parse(await readStdin());
let answer;
if (Array.isArray(request.cases)) {
  const run = (testCase) => observe({ lambdaEndpoint: request.lambdaEndpoint, ...testCase });
  const results = [];
  if (request.concurrent === true) {
    results.push(...(await Promise.all(request.cases.map(run))));
  } else {
    for (const testCase of request.cases) results.push(await run(testCase));
  }
  answer = { results };
} else {
  answer = await observe(request);
}
// Exits once the answer is written: a Task that timed out may still hold a request open.
process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(0));
