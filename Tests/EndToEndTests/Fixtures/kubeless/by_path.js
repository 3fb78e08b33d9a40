// Test function for KubelessRuntimeTests: its behaviour depends on the path.
//   /hang      writes "hanging /hang" on stderr, then never settles
//   /fail      rejects with "failed on purpose"
//   /context   returns the context
//   other      returns "hello world"
module.exports = {
  route: async (event, context) => {
    switch (event.extensions.request.url.split('?')[0]) {
      case '/hang':
        console.error('hanging /hang');
        return new Promise(() => {});
      case '/fail':
        throw new Error('failed on purpose');
      case '/context':
        return context;
      default:
        return 'hello world';
    }
  },
};
