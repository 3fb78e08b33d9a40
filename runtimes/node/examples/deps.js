// Deps example: uses a library installed in the image at build time
// (Debian's node-lodash; DEPS in the Dockerfile).
const _ = require('lodash');

module.exports = {
  handler: (event, context) => `deps: lodash ${_.capitalize('plain text')}`,
};
