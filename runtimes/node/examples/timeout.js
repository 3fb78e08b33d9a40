// Timeout example: never settles. Deploy it with a short timeout (the proxy's
// --timeout or FUNC_TIMEOUT) to see the caller get 408 "Timeout exceeded".
// A promise that never resolves (not a busy loop) keeps the event loop free,
// so the runtime goes on serving other calls.
module.exports = {
  endless: (event, context) => new Promise(() => {}),
};
