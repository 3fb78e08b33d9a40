// GET example: answers every call with the same greeting.
module.exports = {
  foo: (event, context) => 'hello world',
};
